// helm-render renders a Helm chart the way `helm template` does, for what our chart uses:
// text/template with sprig, Helm's include, tpl, required, toYaml, fromYaml, toJson, fromJson,
// .Files.Get, and values merged from values.yaml and -f files. It lacks subcharts, hooks'
// ordering, lookup, --set and schema validation (tests validate values.schema.json
// separately). Built with Debian's Go libraries in GOPATH mode: there is no Helm library in
// Debian, and no helm binary.
//
//	helm-render [-f values.yaml]... [-name RELEASE] [-namespace NS] [-notes] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// merge lays `over` onto `base`: maps merge key by key, anything else replaces (Helm's
// coalescing of user values over the chart's defaults).
func merge(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]interface{}); ok {
			if bm, ok := out[k].(map[string]interface{}); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		if v == nil { // null deletes a default, as in Helm
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

// files is .Files: the chart's files by path relative to the chart.
type files map[string][]byte

func (f files) Get(name string) string { return string(f[name]) }

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func main() {
	var values valueFiles
	flag.Var(&values, "f", "values file (repeatable; later ones win)")
	name := flag.String("name", "ztrace", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-f values.yaml]... [-name R] [-namespace NS] [-notes] CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), values, *name, *namespace, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func render(chartDir string, valuePaths []string, name, namespace string, notes bool) (string, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	vals, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, p := range valuePaths {
		over, err := readYAML(p)
		if err != nil {
			return "", err
		}
		vals = merge(vals, over)
	}
	chartFiles := files{}
	err = filepath.Walk(chartDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		data, err := os.ReadFile(path)
		chartFiles[rel] = data
		return err
	})
	if err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values": vals,
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
		},
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm", "IsInstall": true,
			"IsUpgrade": false, "Revision": 1,
		},
		"Files":        chartFiles,
		"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.20.2", "Major": "1", "Minor": "20"}},
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["lookup"] = func(...interface{}) (map[string]interface{}, error) {
		return nil, errors.New("lookup is not supported by helm-render")
	}
	root.Funcs(funcs).Option("missingkey=zero")

	var names []string
	for rel := range chartFiles {
		if strings.HasPrefix(rel, "templates/") {
			names = append(names, rel)
		}
	}
	sort.Strings(names)
	for _, rel := range names {
		if _, err := root.New(fmt.Sprint(chart["name"], "/", rel)).Parse(string(chartFiles[rel])); err != nil {
			return "", err
		}
	}
	var out strings.Builder
	for _, rel := range names {
		base := filepath.Base(rel)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || notes != isNotes {
			continue
		}
		var buf bytes.Buffer
		top["Template"] = map[string]interface{}{"Name": "ztrace/" + rel, "BasePath": "ztrace/templates"}
		if err := root.ExecuteTemplate(&buf, fmt.Sprint(chart["name"], "/", rel), top); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			out.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s/%s\n%s\n", chart["name"], rel, strings.TrimSpace(text))
	}
	return out.String(), nil
}
