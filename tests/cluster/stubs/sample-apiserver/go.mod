// Empty stand-in for k8s.io/sample-apiserver. k8s.io/kubernetes lists it in
// its requirements (as a staging module at v0.0.0), but no binary we build
// imports it, and the module proxy does not serve a published version of it.
module k8s.io/sample-apiserver

go 1.24.0
