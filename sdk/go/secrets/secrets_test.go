package secrets

import (
	"errors"
	"testing"

	"hangar.local/hangar"
)

func TestGetReadsTheEnvironmentOutsideWasm(t *testing.T) {
	t.Setenv("_FSEC_api_token", "s3cret")
	if v, err := Get("api_token"); err != nil || v != "s3cret" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	_, err := Get("hangar_sdk_test_absent")
	var ae *hangar.AgentError
	if !errors.As(err, &ae) || ae.Code != CodeNotFound || ae.IsRecoverable() {
		t.Fatalf("want %s, got %v", CodeNotFound, err)
	}
	if refusalError("x", notGranted).Code != CodeNotGranted || refusalError("x", tooManyReads).Code != CodeTooManyReads {
		t.Fatal("codes are wrong")
	}
}
