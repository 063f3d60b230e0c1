"""Training steps and epochs for the PyTorch peers (torch_bench.py,
torch_cnn.py), eager or as whole-step CUDA graphs (--graph): the honest best
PyTorch can do for a small network, whose eager step is bound by kernel
launches (issue 17).

make_step(net, opt, loss_fn) returns step(x, y): zero the gradients in
place, forward, loss, backward, the optimizer's step; it returns the loss.

eager_epoch(step, data, labels, samples, batch) returns run(): an epoch over
a fresh permutation of the samples held on the device, each mini-batch
gathered by indexing, the last loss read at the end.

graphed_epoch(step, data, labels, samples, batch) warms step up on a side
stream for each batch size an epoch has (full batches and the short last
one), as torch.cuda.graph requires, captures one graph per size sharing one
memory pool, and returns run(): an epoch over a fresh permutation, each
batch gathered into its graph's static inputs with index_select and the
graph replayed, the last loss read at the end.
"""
import torch


def make_step(net, opt, loss_fn):
    def step(x, y):
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def eager_epoch(step, data, labels, samples, batch):
    def run():
        order = torch.randperm(samples, device=data.device)
        loss = None
        for off in range(0, samples, batch):
            idx = order[off:off + batch]
            loss = step(data[idx], labels[idx])
        assert loss.item() == loss.item(), "loss is NaN"

    return run


def graphed_epoch(step, data, labels, samples, batch):
    sizes = sorted({batch, samples % batch} - {0}, reverse=True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for n in sizes:
            for _ in range(3):
                step(data[:n], labels[:n])
    torch.cuda.current_stream().wait_stream(side)

    graphs, pool = {}, None
    for n in sizes:
        sx, sy = data[:n].clone(), labels[:n].clone()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=pool):
            sl = step(sx, sy)
        pool = g.pool()
        graphs[n] = (g, sx, sy, sl)

    def run():
        order = torch.randperm(samples, device=data.device)
        loss = None
        for off in range(0, samples, batch):
            idx = order[off:off + batch]
            g, sx, sy, sl = graphs[idx.numel()]
            torch.index_select(data, 0, idx, out=sx)
            torch.index_select(labels, 0, idx, out=sy)
            g.replay()
            loss = sl
        assert loss.item() == loss.item(), "loss is NaN"

    return run
