package train

import (
	"errors"
	"os"

	"github.com/diynn/diynn/backend"
)

// Captured steps: on a backend that is a backend.Capturer (CUDA), Fit's
// step — gather, forward, loss, backward, clipping, the optimizer's update
// and the loss's accumulation into the epoch's sum — runs as one graph
// instead of some 35 launches, unless DIYNN_CUDA_GRAPH=0.
//
// The first full batch runs eagerly (it grows the backend's internal
// buffers and lets every layer allocate what it keeps), the second is
// captured, and every later full batch replays the graph. A replay issues
// the step's calls again — the host work is small beside the launches it
// saves — and the backend updates in the graph the arguments that changed:
// the learning rate of a schedule, Adam's bias corrections, the batch's
// offset into the permutation, the Philox seeds of Dropout. So no
// configuration needs values on the device, and none is refused: a step
// whose calls do not match the graph (a Transform that does something else
// on some steps, say) runs eagerly, with the same results, and the step
// after it is captured again; after maxCaptureFailures such failures the
// run stays eager. The last, short batch of an epoch has another shape and
// runs eagerly. The loss is still read and checked every CheckEvery steps,
// from the device sum the graph accumulates.

// maxCaptureFailures is how many captures may fail (a call that cannot be
// captured) or stop matching (a replay that ran eagerly) before a run
// stops capturing.
const maxCaptureFailures = 3

// graphsEnabled reports whether DIYNN_CUDA_GRAPH allows captured steps:
// anything but "0".
func graphsEnabled() bool { return os.Getenv("DIYNN_CUDA_GRAPH") != "0" }

// stepGraph captures and replays a trainer's full-batch step.
type stepGraph struct {
	c        backend.Capturer
	g        backend.Graph // nil until captured
	warm     bool          // a full batch has run eagerly
	off      bool          // capturing failed too often, or the backend cannot
	failures int

	captured, replayed, eager int // steps, by how they ran (for tests)
}

// newStepGraph returns the step graph of b, or nil when b cannot capture
// or DIYNN_CUDA_GRAPH=0.
func newStepGraph(b backend.Backend) *stepGraph {
	c, ok := b.(backend.Capturer)
	if !ok || !graphsEnabled() {
		return nil
	}
	return &stepGraph{c: c}
}

func (s *stepGraph) close() {
	if s != nil && s.g != nil {
		s.g.Close()
		s.g = nil
	}
}

// failed counts a capture or replay that ran eagerly.
func (s *stepGraph) failed() {
	s.close()
	if s.failures++; s.failures >= maxCaptureFailures {
		s.off = true
	}
}

// step runs t's step (epoch, step), a full batch, as a replay, a capture
// or eagerly.
func (s *stepGraph) step(t *trainer, epoch, step int) error {
	switch {
	case s.off || !s.warm:
		s.warm = true
		s.eager++
		return t.calls(epoch, step)
	case s.g != nil:
		if err := s.g.BeginReplay(); err != nil {
			return err
		}
		err := t.calls(epoch, step)
		rerr := s.g.Replay() // ends the replay whatever the calls did
		if err != nil {
			return err
		}
		if errors.Is(rerr, backend.ErrNotCaptured) {
			s.eager++
			s.failed()
			return nil
		}
		if rerr == nil {
			s.replayed++
		}
		return rerr
	default:
		if err := s.c.BeginCapture(); err != nil {
			s.off = true // this backend cannot (OpenCL): eager from now on
			s.eager++
			return t.calls(epoch, step)
		}
		err := t.calls(epoch, step)
		g, cerr := s.c.EndCapture() // ends the capture whatever the calls did
		if err != nil {
			if g != nil {
				g.Close()
			}
			return err
		}
		if errors.Is(cerr, backend.ErrNotCaptured) {
			s.eager++
			s.failed()
			return nil
		}
		if cerr != nil {
			return cerr
		}
		s.g = g
		s.captured++
		return nil
	}
}
