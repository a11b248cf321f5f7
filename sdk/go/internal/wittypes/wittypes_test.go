package wittypes

import "testing"

func TestOptionAndResult(t *testing.T) {
	some, none := Some(7), None[int]()
	if some.Tag() != OptionSome || !some.IsSome() || some.IsNone() || some.Some() != 7 || some.SomeOr(1) != 7 {
		t.Fatalf("Some(7) = %+v", some)
	}
	if none.Tag() != OptionNone || none.IsSome() || !none.IsNone() || none.SomeOr(1) != 1 {
		t.Fatalf("None = %+v", none)
	}
	ok, failed := Ok[int, string](3), Err[int, string]("no")
	if ok.Tag() != ResultOk || !ok.IsOk() || ok.IsErr() || ok.Ok() != 3 {
		t.Fatalf("Ok(3) = %+v", ok)
	}
	if failed.Tag() != ResultErr || failed.IsOk() || !failed.IsErr() || failed.Err() != "no" {
		t.Fatalf("Err = %+v", failed)
	}
	for name, f := range map[string]func(){
		"Some of None": func() { none.Some() },
		"Ok of Err":    func() { failed.Ok() },
		"Err of Ok":    func() { ok.Err() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s should panic", name)
				}
			}()
			f()
		}()
	}
}
