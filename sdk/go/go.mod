// The Hangar SDK for Flyte agents written in Go. Not fetched from a proxy:
// an agent uses it through a replace directive pointing at this directory
// (`replace hangar.local/hangar => ./hangar/sdk/go` in a `hangar new` project).
module hangar.local/hangar

go 1.25
