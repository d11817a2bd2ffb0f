package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxBinaryBytes bounds the stripped static binary: the image is distroless
// static (≈2 MB) plus this binary.
const maxBinaryBytes = 20 << 20

// dockerInstructions returns the Dockerfile's instructions as
// [keyword, arguments] pairs, with continuation lines joined and comments
// dropped.
func dockerInstructions(t *testing.T, path string) [][2]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		kw, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// goBuildLine returns the one go build command of the Dockerfile's RUN
// instructions.
func dockerGoBuild(t *testing.T, path string) string {
	t.Helper()
	var found []string
	for _, in := range dockerInstructions(t, path) {
		if in[0] != "RUN" || !strings.Contains(in[1], "go build") {
			continue
		}
		cmd := in[1]
		if strings.HasPrefix(cmd, "[") {
			t.Fatalf("Dockerfile: the go build RUN uses the exec form %s; keep it a shell-form command line", cmd)
		}
		for strings.HasPrefix(cmd, "--") { // RUN flags such as --mount=…
			_, cmd, _ = strings.Cut(cmd, " ")
			cmd = strings.TrimSpace(cmd)
		}
		for _, part := range strings.Split(cmd, "&&") {
			if strings.Contains(part, "go build") {
				found = append(found, strings.TrimSpace(part))
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: want exactly one go build command in its RUN instructions, found %q", found)
	}
	return found[0]
}

// scriptGoBuild returns the one go build line of a shell script.
func scriptGoBuild(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") && strings.Contains(line, "go build") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one go build line, found %q", path, found)
	}
	return found[0]
}

// shellWords splits a simple command line: words, single and double quotes,
// backslash escapes. Anything that needs a real shell (expansions, pipes,
// redirections, lists) is refused, so that the command run here is the one
// Docker runs.
func shellWords(line string) ([]string, error) {
	if i := strings.IndexAny(line, "$`;|&<>(){}*?~"); i >= 0 {
		return nil, fmt.Errorf("%q needs a shell (%q at %d): keep the build command a plain command line", line, line[i], i)
	}
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("%q: unterminated quote", line)
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			w.WriteByte(line[i+1])
			i++
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

func TestDockerfileBuildCommand(t *testing.T) {
	docker := dockerGoBuild(t, "Dockerfile")
	script := scriptGoBuild(t, filepath.Join("scripts", "build.sh"))
	if docker != script {
		t.Fatalf("the build commands differ:\n  Dockerfile:       %s\n  scripts/build.sh: %s", docker, script)
	}

	words, err := shellWords(docker)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the build command does not set CGO_ENABLED=0: %s", docker)
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("the build command is not `go build …`: %s", docker)
	}
	for _, flag := range []string{"-trimpath", "-ldflags"} {
		if !slices.Contains(words, flag) {
			t.Errorf("the build command lacks %s: %s", flag, docker)
		}
	}
	o := slices.Index(words, "-o")
	if o < 0 || o+1 >= len(words) {
		t.Fatalf("the build command has no -o: %s", docker)
	}
	if words[o+1] != "/out/mfabot" {
		t.Errorf("the build command writes %s; the runtime stage copies /out/mfabot", words[o+1])
	}

	// Run it outside Docker, with only the output moved into a temporary
	// directory. GOOS=linux: the image's platform, also on a Mac.
	bin := filepath.Join(t.TempDir(), "mfabot")
	args := slices.Clone(words[1:])
	args[o] = bin
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), append([]string{"GOOS=linux", "GOFLAGS="}, env...)...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	t.Logf("built in %v: %s", time.Since(start).Round(time.Second), strings.Join(cmd.Args, " "))

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the binary is not an ELF file: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			t.Error("the binary has a PT_INTERP program header: it is dynamically linked and will not start on distroless/static")
		case elf.PT_DYNAMIC:
			t.Error("the binary has a PT_DYNAMIC program header: it is dynamically linked")
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Error("the binary has .dynamic/.interp sections: it is dynamically linked")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags \"-s -w\" did not strip it")
	}

	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary: %d bytes (%.1f MiB); image ≈ 2 MiB distroless/static + the binary", st.Size(), float64(st.Size())/(1<<20))
	if st.Size() > maxBinaryBytes {
		t.Errorf("the binary is %.1f MiB, over the %d MiB budget", float64(st.Size())/(1<<20), maxBinaryBytes>>20)
	}
}
