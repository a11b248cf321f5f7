package config

import (
	"strings"
	"testing"
)

func TestConfigReadsTheEnvironmentOutsideWasm(t *testing.T) {
	t.Setenv("HANGAR_CONFIG_base_url", "http://x")
	if v, ok := Get("base_url"); !ok || v != "http://x" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	if GetOr("hangar_sdk_test_absent", "d") != "d" {
		t.Fatal("GetOr should fall back")
	}
	_, err := Require("hangar_sdk_test_absent")
	if err == nil || !strings.Contains(err.Error(), "[config]") || !strings.Contains(err.Error(), "MissingConfig") {
		t.Fatalf("Require should teach the fix: %v", err)
	}
}
