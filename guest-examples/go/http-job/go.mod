module hangar.local/examples/http-job

go 1.25

require hangar.local/hangar v0.0.0

replace hangar.local/hangar => ../../../sdk/go
