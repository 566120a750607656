// Package ztracedep is a vendored stand-in dependency: it makes the build info of the test
// program list a module with a version without any network access.
package ztracedep

// Banner is what the server answers on /dep/.
func Banner() string { return "ztracedep v1.4.2" }
