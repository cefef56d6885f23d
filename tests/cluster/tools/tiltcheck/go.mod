// tiltcheck: parses a Tiltfile with Starlark (Tilt's language) and checks that every name it uses
// is a Starlark or Tilt builtin and every keyword argument of a Tilt builtin exists. Tilt itself
// is not built here (see docs/testing.md); this catches syntax errors and misspelt builtins.
module kseal.local/tests/cluster/tools/tiltcheck

go 1.25.0

require go.starlark.net v0.0.0-20260908191801-89a6a09411d5

require golang.org/x/sys v0.42.0 // indirect
