// Package wittypes holds the WIT types that have no Go counterpart, as the
// generated bindings in internal/wit use them: option, result, tuple and
// the unit type. It exists beside witruntime (see there) so that the SDK
// needs no module from outside this directory.
package wittypes

// Tags of Option.
const (
	OptionNone = 0
	OptionSome = 1
)

// Option is WIT's option<T>.
type Option[T any] struct {
	tag   uint8
	value T
}

// None is the empty Option.
func None[T any]() Option[T] { return Option[T]{tag: OptionNone} }

// Some is an Option holding value.
func Some[T any](value T) Option[T] { return Option[T]{tag: OptionSome, value: value} }

// Tag is OptionNone or OptionSome.
func (o Option[T]) Tag() uint8 { return o.tag }

// IsSome reports whether the Option holds a value.
func (o Option[T]) IsSome() bool { return o.tag == OptionSome }

// IsNone reports whether the Option is empty.
func (o Option[T]) IsNone() bool { return o.tag == OptionNone }

// Some is the value; it panics when the Option is empty.
func (o Option[T]) Some() T {
	if o.tag != OptionSome {
		panic("wittypes: Some of an empty Option")
	}
	return o.value
}

// SomeOr is the value, or fallback when the Option is empty.
func (o Option[T]) SomeOr(fallback T) T {
	if o.tag != OptionSome {
		return fallback
	}
	return o.value
}

// Tags of Result.
const (
	ResultOk  = 0
	ResultErr = 1
)

// Result is WIT's result<T, E>.
type Result[T any, E any] struct {
	tag uint8
	ok  T
	err E
}

// Ok is a successful Result.
func Ok[T any, E any](value T) Result[T, E] { return Result[T, E]{tag: ResultOk, ok: value} }

// Err is a failed Result.
func Err[T any, E any](err E) Result[T, E] { return Result[T, E]{tag: ResultErr, err: err} }

// Tag is ResultOk or ResultErr.
func (r Result[T, E]) Tag() uint8 { return r.tag }

// IsOk reports whether the Result succeeded.
func (r Result[T, E]) IsOk() bool { return r.tag == ResultOk }

// IsErr reports whether the Result failed.
func (r Result[T, E]) IsErr() bool { return r.tag == ResultErr }

// Ok is the value; it panics when the Result failed.
func (r Result[T, E]) Ok() T {
	if r.tag != ResultOk {
		panic("wittypes: Ok of a failed Result")
	}
	return r.ok
}

// Err is the error; it panics when the Result succeeded.
func (r Result[T, E]) Err() E {
	if r.tag != ResultErr {
		panic("wittypes: Err of a successful Result")
	}
	return r.err
}

// Tuple2 is WIT's tuple<T0, T1>.
type Tuple2[T0 any, T1 any] struct {
	F0 T0
	F1 T1
}

// Unit is WIT's empty type (a result with no value).
type Unit struct{}
