package train

import (
	"errors"
	"os"

	"github.com/diynn/diynn/backend"
)

// Captured steps: on a backend that is a backend.Capturer (CUDA), Fit's
// step — gather, forward, loss, backward, clipping, the optimizer's update
// and the loss's accumulation into the epoch's sum — runs as one graph
// instead of some 35 launches, unless DIYNN_CUDA_GRAPH=0; so does the step
// of any loop that runs its full batches through a StepGraph (cmd/bench's
// epochs).
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

// StepGraph captures a training step's backend calls once and replays
// them for every later step of the same shape: the first step given to Run
// runs eagerly, the second is captured, and the others replay the graph
// (falling back to eager calls, with the same results, whenever a replay's
// calls do not match). Give it only steps of one shape — full batches —
// and run the others directly. A nil *StepGraph runs every step eagerly.
type StepGraph struct {
	c        backend.Capturer
	g        backend.Graph // nil until captured
	warm     bool          // a full batch has run eagerly
	off      bool          // capturing failed too often, or the backend cannot
	failures int

	captured, replayed, eager int // steps, by how they ran (for tests)
}

// NewStepGraph returns a step graph on b, or nil (steps run eagerly) when
// b cannot capture or DIYNN_CUDA_GRAPH=0.
func NewStepGraph(b backend.Backend) *StepGraph {
	c, ok := b.(backend.Capturer)
	if !ok || !graphsEnabled() {
		return nil
	}
	return &StepGraph{c: c}
}

// Close releases the graph; a later Run captures again.
func (s *StepGraph) Close() { s.close() }

// Replays returns how many steps ran as replays of the graph (0 for nil).
func (s *StepGraph) Replays() int {
	if s == nil {
		return 0
	}
	return s.replayed
}

func (s *StepGraph) close() {
	if s != nil && s.g != nil {
		s.g.Close()
		s.g = nil
	}
}

// failed counts a capture or replay that ran eagerly.
func (s *StepGraph) failed() {
	s.close()
	if s.failures++; s.failures >= maxCaptureFailures {
		s.off = true
	}
}

// Run issues a step's backend calls (calls), as a replay, a capture or
// eagerly. calls must issue the same sequence of calls every step, with only
// their values changing (a learning rate, an offset, a seed).
func (s *StepGraph) Run(calls func() error) error {
	switch {
	case s == nil:
		return calls()
	case s.off || !s.warm:
		s.warm = true
		s.eager++
		return calls()
	case s.g != nil:
		if err := s.g.BeginReplay(); err != nil {
			return err
		}
		err := calls()
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
			return calls()
		}
		err := calls()
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
