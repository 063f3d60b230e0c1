// Package model describes networks as text, builds them on a backend, and
// saves and loads them as safetensors files that carry their own
// description, so that loading needs no code.
//
// # Specs
//
// A spec is a sequence of layers separated by spaces:
//
//	linear(784,176) tanh linear(176,42) relu linear(42,10)
//
// Each layer is a name with optional arguments in parentheses: numbers or
// words, positional ones first, then named ones (key=value). The built-in
// layers are:
//
//	linear(IN,OUT[,INIT])  y = x·Wᵀ + b, from IN values per sample (any shape) to OUT;
//	                       INIT default (PyTorch's), xavier or kaiming
//	tied(K)                the decoder of the linear layer at position K (from 0):
//	                       its weight transposed, and a bias of its own
//	tanh, sigmoid, relu, leakyrelu(ALPHA)
//	softmax, logsoftmax    over all the values of a sample
//	dropout(P)             zeroes a fraction P while training (inverted: the rest × 1/(1-P))
//	gaussiannoise(SIGMA)   adds N(0, SIGMA²) noise while training
//	flatten                a sample of any shape as a vector of its values
//	reshape(D1,D2,…)       a sample of the same number of values as shape (D1×D2×…)
//	concat[A | B …]        runs specs A, B, … (its heads, two or more) on its input and
//	                       joins their outputs: (the sum of their values) per sample
//
// and, for images (C×H×W per sample), as PyTorch's layers of the same
// names, with their parameters, buffers and defaults:
//
//	conv(IN,OUT,K[,stride=S][,pad=P][,bias=false])
//	                       nn.Conv2d: IN channels to OUT with K×K filters; stride 1, pad 0
//	convtranspose(IN,OUT,K[,stride=S][,pad=P][,outpad=O][,bias=false])
//	                       nn.ConvTranspose2d, a decoder's: H → (H−1)·S − 2·P + K + O, O < S
//	maxpool(K[,stride=S][,pad=P]), avgpool(K[,stride=S][,pad=P])
//	                       nn.MaxPool2d, nn.AvgPool2d: stride K unless given, pad ≤ K/2
//	globalavgpool          the mean of each channel: (C×H×W) → (C)
//	batchnorm2d(C[,eps=E][,momentum=M]), batchnorm1d(F[,eps=E][,momentum=M])
//	                       nn.BatchNorm2d on (C×H×W), nn.BatchNorm1d on (F) or (F×L);
//	                       eps 1e-5, momentum 0.1; running statistics in evaluation mode
//
// Output sizes are PyTorch's: (H + 2·P − K)/S + 1, rounded down, for
// convolutions and pools.
// A mistake is a *SpecError that shows the column at fault. Format writes
// layers canonically: lowercase, no spaces, defaults left out.
//
// # Heads
//
// A network with two outputs runs two heads on one value: a joint
// autoencoder reconstructs its input from a 30-value code and classifies
// the code,
//
//	linear(784,264) leakyrelu(0.01) linear(264,88) leakyrelu(0.01) linear(88,30)
//	concat[tied(4) leakyrelu(0.01) tied(2) leakyrelu(0.01) tied(0) sigmoid | linear(30,10)]
//
// (one line in a spec) gives 794 values a sample, the 784 of the
// reconstruction, then the 10 class scores (nn.SplitLoss trains each part
// on its own loss). Each head, between the brackets and the bars, is a spec
// of its own, planned on the concat's input; it may hold a concat too.
// Inside a head, tied(K) names layer K of the spec that holds the concat,
// a linear layer before it: the decoder above is tied to the encoder, and
// a head's own layers cannot be tied to. The module is an nn.Concat of one
// nn.Sequential per head, and its parameters are named as PyTorch names
// those of a module holding the heads as children "0", "1", … each an
// nn.Sequential: "5.0.0.bias" is the bias of module 0 of head 0 of layer
// 5, "5.1.0.weight" the classifier's weight. Format writes a concat
// canonically as concat[A | B]. Errors in a head show their column in the
// whole spec.
//
// # Plans and shapes
//
// NewPlan parses a spec and follows the per-sample shape (no batch
// dimension) through its layers, without allocating: the input's shape is
// the one the first layer that implies one gives, (IN) for linear(IN,OUT),
// and NewPlanFor takes it from the data instead, e.g. (1, 28, 28) for a
// data.Dataset of grey images. The arguments of a convolution, a pooling
// or batchnorm2d do not fix the height and width of its images, so a spec
// that starts with one must be planned with NewPlanFor (and built with
// BuildFor); NewPlan refuses it, saying so. A spec whose shapes do not
// chain is refused with the column of the layer at fault. The plan lists
// the parameters and buffers Build will create, checks a file's tensors
// against them, shape and dtype (CheckTensors), and estimates the device
// memory a model needs (Estimate) before anything is built; Estimate also
// refuses a batch for which one layer's tensor (a convolution's column
// matrix over the batch) would pass the 2³¹ values a tensor holds, with the
// largest batch that layer takes.
//
// # Layers of your own
//
// A layer is known to specs, plans, Build and Load once it is registered
// with RegisterLayer: its LayerDef says which arguments it takes, how to
// plan it (its output shape and parameters for an input shape) and how to
// build its module; one with LayerDef.MinHeads takes heads in brackets, as
// concat does. The built-in layers are registered the same way. A
// module that also writes itself in the spec language (Spec() string, as
// every built-in module does) goes through SpecOf, New and SaveModule, so
// a network built in Go is saved with a spec derived from its modules and
// loaded back by Load without code. See the example of RegisterLayer.
//
// # Files
//
// Save writes a model's parameters and buffers (batch norm's running
// statistics), named and typed as PyTorch's state_dict of an nn.Sequential
// ("0.weight", "0.bias", "1.running_mean", "1.num_batches_tracked" as a
// 0-dimensional int64, "5.1.0.weight" in a head, …), with its spec, its class names and, when the
// spec does not imply it, its input shape in the metadata (MetaSpec,
// MetaClasses, MetaInput); Load rebuilds the network from them after
// checking every tensor's shape. Such a file loads into the matching
// PyTorch nn.Sequential with load_state_dict(strict=True).
//
// The other way, LoadWeights builds a spec's network and loads a
// state_dict that PyTorch saved as safetensors, checking that its tensors
// are exactly the network's (diynn eval -model SPEC -weights FILE).
// testdata/torch_roundtrip.py, run by TestTorchRoundTrip, checks both ways
// against PyTorch's logits.
package model
