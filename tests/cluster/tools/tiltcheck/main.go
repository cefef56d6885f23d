// Command tiltcheck checks Tiltfiles without Tilt: each file is parsed as Starlark with the
// dialect options Tilt enables, every name is resolved against Starlark's universe plus Tilt's
// builtins, and calls to the Tilt builtins listed with their parameters are checked for unknown
// keyword arguments and too many positional ones. `os.*` and `config.*` attributes are checked
// against the members Tilt provides.
//
//	tiltcheck FILE...   prints "FILE: ok (N calls checked)" per file; exit 1 on any problem
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// params lists a Tilt builtin's parameters in order (nil: the builtin exists, its arguments are
// not checked). Taken from Tilt's API reference.
var params = map[string][]string{
	"allow_k8s_contexts": {"contexts"},
	"blob":               {"contents"},
	"ci_settings":        {"k8s_grace_period", "timeout", "readiness_timeout"},
	"custom_build": {"ref", "command", "deps", "tag", "disable_push", "skips_local_docker",
		"live_update", "match_in_env_vars", "ignore", "entrypoint", "command_bat_val",
		"outputs_image_ref_to", "command_bat", "image_deps", "env", "dir"},
	"dc_resource": {"name", "trigger_mode", "resource_deps", "links", "labels", "auto_init",
		"project_name", "new_name", "infer_links"},
	"decode_json":        {"json"},
	"decode_yaml":        {"yaml"},
	"decode_yaml_stream": {"yaml"},
	"default_registry":   {"host", "host_from_cluster", "single_name"},
	"docker_build": {"ref", "context", "build_args", "dockerfile", "dockerfile_contents",
		"live_update", "match_in_env_vars", "ignore", "only", "entrypoint", "target", "ssh",
		"network", "secret", "extra_tag", "container_args", "cache_from", "pull", "platform",
		"extra_hosts"},
	"docker_compose":     {"configPaths", "env_file", "project_name", "profiles", "wait"},
	"encode_json":        {"obj"},
	"encode_yaml":        {"obj"},
	"encode_yaml_stream": {"objs"},
	"exit":               {"code"},
	"fail":               {"msg"},
	"filter_yaml":        {"yaml", "labels", "name", "namespace", "kind", "api_version"},
	"helm": {"pathToChartDir", "name", "namespace", "values", "set", "kube_version",
		"skip_crds"},
	"k8s_custom_deploy": {"name", "apply_cmd", "delete_cmd", "deps", "image_selector",
		"live_update", "apply_dir", "apply_env", "apply_cmd_bat", "delete_dir", "delete_env",
		"delete_cmd_bat", "container_selector", "image_deps"},
	"k8s_resource": {"workload", "new_name", "port_forwards", "extra_pod_selectors",
		"trigger_mode", "resource_deps", "objects", "auto_init", "pod_readiness", "links",
		"labels", "discovery_strategy"},
	"k8s_yaml":  {"yaml", "allow_duplicates"},
	"kustomize": {"pathToDir", "kustomize_bin", "flags"},
	"link":      {"url", "name"},
	"listdir":   {"directory", "recursive"},
	"local":     {"command", "quiet", "command_bat", "echo_off", "env", "dir", "stdin"},
	"local_resource": {"name", "cmd", "deps", "trigger_mode", "resource_deps", "ignore",
		"auto_init", "serve_cmd", "cmd_bat", "serve_cmd_bat", "allow_parallel", "links",
		"labels", "env", "serve_env", "readiness_probe", "dir", "serve_dir"},
	"port_forward":     {"local_port", "container_port", "name", "link_path", "host"},
	"read_file":        {"file_path", "default"},
	"read_json":        {"path", "default"},
	"read_yaml":        {"path", "default"},
	"read_yaml_stream": {"path", "default"},
	"update_settings": {"max_parallel_updates", "k8s_upsert_timeout_secs",
		"suppress_unused_image_warnings", "k8s_server_side_apply"},
	"warn":           {"msg"},
	"watch_file":     {"file_path"},
	"watch_settings": {"ignore"},
	// Known, arguments unchecked.
	"analytics_settings": nil, "disable_snapshots": nil, "docker_prune_settings": nil,
	"enable_feature": nil, "exec_action": nil, "fall_back_on": nil, "http_get_action": nil,
	"include": nil, "initial_sync": nil, "k8s_context": nil, "k8s_kind": nil,
	"k8s_namespace": nil, "load_dynamic": nil, "probe": nil, "restart_container": nil,
	"run": nil, "secret_settings": nil, "set_team": nil, "struct": nil, "sync": nil,
	"tcp_socket_action": nil, "trigger_mode": nil, "version_settings": nil,
	"workload_to_resource_function": nil,
}

// values are Tilt's predeclared names that are not functions with checked parameters.
var values = []string{"TRIGGER_MODE_AUTO", "TRIGGER_MODE_MANUAL", "__file__", "os", "config",
	"v1alpha1", "shlex", "sys"}

// members of Tilt's modules that a Tiltfile may reach with a dotted name.
var members = map[string][]string{
	"os":      {"environ", "getcwd", "getenv", "name", "path", "putenv", "unsetenv"},
	"os.path": {"abspath", "basename", "dirname", "exists", "join", "realpath", "relpath"},
	"config": {"define_bool", "define_object", "define_string", "define_string_list",
		"main_dir", "main_path", "parse", "set_enabled_resources", "tilt_subcommand"},
}

type checker struct {
	file  string
	calls int
	errs  []string
}

func (c *checker) errorf(pos syntax.Position, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s:%d:%d: %s", c.file, pos.Line, pos.Col,
		fmt.Sprintf(format, args...)))
}

// dotted gives "os.path.exists" for a chain of attribute selections on a name, or "".
func dotted(e syntax.Expr) string {
	switch e := e.(type) {
	case *syntax.Ident:
		return e.Name
	case *syntax.DotExpr:
		if base := dotted(e.X); base != "" {
			return base + "." + e.Name.Name
		}
	}
	return ""
}

func (c *checker) checkMember(d *syntax.DotExpr) {
	base := dotted(d.X)
	known, ok := members[base]
	if !ok {
		return // an attribute of a value, not of one of Tilt's modules
	}
	for _, m := range known {
		if m == d.Name.Name {
			return
		}
	}
	c.errorf(d.Name.NamePos, "%s has no member %q (known: %s)", base, d.Name.Name,
		strings.Join(known, ", "))
}

func (c *checker) checkCall(call *syntax.CallExpr) {
	id, ok := call.Fn.(*syntax.Ident)
	if !ok || id.Binding == nil || id.Binding.(*resolve.Binding).Scope != resolve.Predeclared {
		return
	}
	ps, known := params[id.Name]
	if !known {
		return
	}
	c.calls++
	if ps == nil {
		return
	}
	positional := 0
	for _, arg := range call.Args {
		switch a := arg.(type) {
		case *syntax.BinaryExpr:
			if a.Op == syntax.EQ {
				kw := a.X.(*syntax.Ident).Name
				if !contains(ps, kw) {
					c.errorf(a.OpPos, "%s() has no parameter %q (it has: %s)", id.Name, kw,
						strings.Join(ps, ", "))
				}
				continue
			}
			positional++
		case *syntax.UnaryExpr:
			// *args or **kwargs: not checkable statically.
		default:
			positional++
		}
	}
	if positional > len(ps) {
		c.errorf(call.Lparen, "%s() takes at most %d positional arguments, got %d", id.Name,
			len(ps), positional)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkFile(path string) (int, []string) {
	c := &checker{file: path}
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, []string{err.Error()}
	}
	// The dialect Tilt enables: top-level if/for, reassigning globals, while, sets, recursion.
	opts := &syntax.FileOptions{Set: true, While: true, TopLevelControl: true,
		GlobalReassign: true, Recursion: true}
	f, err := opts.Parse(path, src, 0)
	if err != nil {
		return 0, []string{err.Error()}
	}
	isPredeclared := func(name string) bool {
		_, fn := params[name]
		return fn || contains(values, name)
	}
	isUniversal := func(name string) bool { _, ok := starlark.Universe[name]; return ok }
	if err := resolve.File(f, isPredeclared, isUniversal); err != nil {
		if list, ok := err.(resolve.ErrorList); ok {
			for _, e := range list {
				c.errs = append(c.errs, e.Error())
			}
		} else {
			c.errs = append(c.errs, err.Error())
		}
		return 0, c.errs
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			c.checkCall(n)
		case *syntax.DotExpr:
			c.checkMember(n)
		}
		return true
	})
	return c.calls, c.errs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tiltcheck TILTFILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		calls, errs := checkFile(path)
		sort.Strings(errs)
		for _, e := range errs {
			fmt.Println(e)
		}
		if len(errs) > 0 {
			failed = true
			continue
		}
		fmt.Printf("%s: ok (%d calls of Tilt builtins checked)\n", path, calls)
	}
	if failed {
		os.Exit(1)
	}
}
