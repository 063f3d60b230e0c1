"""Whole-step CUDA graphs for the PyTorch peers (torch_bench.py --graph,
torch_cnn.py --graph): the honest best PyTorch can do for a small network,
whose eager step is bound by kernel launches (issue 17).

graphed_epoch(step, data, labels, samples, batch) warms step up on a side
stream for each batch size an epoch has (full batches and the short last
one), as torch.cuda.graph requires, captures one graph per size sharing one
memory pool, and returns run(): an epoch over a fresh permutation, each
batch gathered into its graph's static inputs with index_select and the
graph replayed, the last loss read at the end. step(x, y) must zero the
gradients in place, run forward, loss, backward and the optimizer's step,
and return the loss tensor.
"""
import torch


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
