// Command diynn trains and evaluates classifiers from the command line.
//
//	diynn train -data fashion-mnist -model fmnist-relu [-backend auto] [-out runs/fmnist]
//	diynn eval  -model runs/fmnist/model.safetensors -data fashion-mnist
//	diynn backends
//
// Run a subcommand with -h for its flags. Bad flags, unknown names,
// malformed model specs and unusable input files exit with status 2;
// failures while running (a diverged training run, a full disk), 1; a
// training run stopped by Ctrl-C, 130, after writing a checkpoint to
// resume from. See docs/RELIABILITY.md for what each command promises.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/all"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends the command with its own exit status (130 for a run
// stopped by Ctrl-C, as shells report SIGINT).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: diynn <command> [flags]

commands:
  train     train a classifier and write the model, history, curves and metrics
  eval      print the metrics of a saved model on a dataset
  embed     write an autoencoder's latent vectors (CSV and .npy)
  tsne      map vectors from a CSV to 2-D or 3-D with Barnes-Hut t-SNE and plot them
  reproduce run the report's experiments 1-4 and write their tables and figures
  backends  list the compiled-in backends and their devices

Run 'diynn <command> -h' for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "train":
		err = trainCmd(args[1:], stdout, stderr)
	case "eval":
		err = evalCmd(args[1:], stdout, stderr)
	case "embed":
		err = embedCmd(args[1:], stdout, stderr)
	case "tsne":
		err = tsneCmd(args[1:], stdout, stderr)
	case "reproduce":
		err = reproduceCmd(args[1:], stdout, stderr)
	case "backends":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
			fmt.Fprintln(stdout, "usage: diynn backends\n\nLists the compiled-in backends, their devices, and which one -backend auto picks.")
			return 0
		}
		if len(args) > 1 {
			err = usagef("backends takes no arguments, got %q", args[1])
		} else {
			err = backendsCmd(stdout)
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usagef("unknown command %q\n\n%s", args[0], usage)
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "diynn:", err)
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "diynn:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "diynn:", err)
		return 1
	}
}

// openBackend opens the named backend and prints which one it is and why
// better ones were skipped.
func openBackend(name string, w io.Writer) (backend.Backend, error) {
	b, skips, err := backend.OpenAuto(name)
	if err != nil {
		if errors.Is(err, backend.ErrNotCompiledIn) {
			return nil, usageError{err.Error()}
		}
		return nil, err
	}
	// Drivers this build lacks go on one line, with the tags that bring
	// them; drivers that are compiled in but failed each get theirs.
	var absent []string
	for _, s := range skips {
		if errors.Is(s.Err, backend.ErrNotCompiledIn) {
			absent = append(absent, s.Name)
			continue
		}
		fmt.Fprintf(w, "skipping backend %s\n", s)
	}
	fmt.Fprintf(w, "backend %s: %s\n", b.Name(), b.Device())
	if len(absent) > 0 {
		tags := make([]string, len(absent))
		for i, n := range absent {
			tags[i] = "-tags " + n
		}
		fmt.Fprintf(w, "(not compiled in: %s; build with %s for a GPU)\n", strings.Join(absent, ", "), strings.Join(tags, " or "))
	}
	return b, nil
}

// checkBackendName refuses a -backend that no compiled-in driver has, for
// commands that open backends only later (reproduce).
func checkBackendName(name string) error {
	if name == "auto" {
		return nil
	}
	var names []string
	for _, d := range backend.Drivers() {
		if d.Name == name {
			return nil
		}
		names = append(names, d.Name)
	}
	return usagef("-backend %q: want auto or one of the compiled-in backends (%s)", name, strings.Join(names, ", "))
}

func backendsCmd(w io.Writer) error {
	for _, d := range backend.Drivers() {
		b, err := d.Open()
		if err != nil {
			fmt.Fprintf(w, "%-8s unavailable: %v\n", d.Name, err)
			continue
		}
		fmt.Fprintf(w, "%-8s %s\n", d.Name, b.Device())
		b.Close()
		if d.Devices != nil {
			if devs, err := d.Devices(); err == nil {
				for _, dev := range devs {
					fmt.Fprintf(w, "         device %s\n", dev)
				}
			}
		}
	}
	b, skips, err := backend.OpenAuto("auto")
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(w, "auto     → %s", b.Name())
	if len(skips) > 0 {
		fmt.Fprintf(w, " (skipped %d: %v)", len(skips), skips)
	}
	fmt.Fprintln(w)
	return nil
}
