package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/atomicfile"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/npy"
	"github.com/diynn/diynn/train"
)

// encode runs an autoencoder's encoder over d, in evaluation mode and in
// batches, and returns the latent vectors (d.N rows of width k).
func encode(m *model.Model, layers int, d *data.Dataset) ([]float32, int, error) {
	enc, err := m.Encoder(layers)
	if err != nil {
		return nil, 0, err
	}
	p, err := train.Predict(enc, d)
	if err != nil {
		return nil, 0, err
	}
	return p.Outputs, p.Width(), nil
}

// encoderLayers reads how many layers make the encoder of a model saved by
// `diynn train -task reconstruct`.
func encoderLayers(meta map[string]string, path string) (int, error) {
	if t := meta[model.MetaTask]; t != "reconstruct" && t != "joint" {
		return 0, usagef("%s is not an autoencoder (task %q): train one with -task reconstruct or joint, or an ae preset", path, t)
	}
	k, err := strconv.Atoi(meta[model.MetaEncoder])
	if err != nil || k <= 0 {
		return 0, fmt.Errorf("%s: metadata %q = %q is not a layer count", path, model.MetaEncoder, meta[model.MetaEncoder])
	}
	return k, nil
}

func embedCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn embed", flag.ContinueOnError)
	f := addSavedModelFlags(fs, "an autoencoder's model.safetensors")
	out := fs.String("out", "", "output prefix: writes PREFIX.csv, PREFIX.npy and PREFIX-labels.npy (default: beside the model, latents-SPLIT)")
	limit := fs.Int("limit", 0, "embed a seeded sample of at most N samples")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("-limit %d: want a positive number of samples (0: all)", *limit)
	}
	if err := refuseEmpty(fs, "out"); err != nil {
		return err
	}
	if *f.model != "" && *out == "" {
		*out = filepath.Join(filepath.Dir(*f.model), "latents-"+*f.split)
	}
	if err := checkOutPrefix("-out", *out, map[string]string{"-model": *f.model}, ".csv", ".npy", "-labels.npy"); err != nil {
		return err
	}
	f.checkModel = func(meta map[string]string) error {
		_, err := encoderLayers(meta, *f.model)
		return err
	}
	s, err := f.open(stderr)
	if err != nil {
		return err
	}
	defer s.backend.Close()
	m, d := s.model, s.data
	layers, _ := encoderLayers(s.meta, *f.model)
	if *limit > 0 {
		d = sample(d, *limit, 1)
	}
	z, k, err := encode(m, layers, d)
	if err != nil {
		return err
	}
	if err := writeLatents(*out, z, k, d); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d latent vectors of %d values: %s.csv, %s.npy, %s-labels.npy\n", d.N, k, *out, *out, *out)
	return nil
}

// writeLatents writes PREFIX.csv (z0…,label with class names), PREFIX.npy
// (n×k float32) and PREFIX-labels.npy (n×1 class indices), each atomically.
func writeLatents(prefix string, z []float32, k int, d *data.Dataset) error {
	var csvBuf bytes.Buffer
	w := bufio.NewWriter(&csvBuf)
	for j := 0; j < k; j++ {
		fmt.Fprintf(w, "z%d,", j)
	}
	w.WriteString("label\n")
	for i := 0; i < d.N; i++ {
		for _, v := range z[i*k : (i+1)*k] {
			w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			w.WriteByte(',')
		}
		name := d.ClassNames[int(d.Y[i])]
		if strings.ContainsAny(name, ",\"\n") {
			name = strconv.Quote(name)
		}
		w.WriteString(name)
		w.WriteByte('\n')
	}
	w.Flush()
	var zBuf, yBuf bytes.Buffer
	if err := npy.Write(&zBuf, z, d.N, k); err != nil {
		return err
	}
	if err := npy.Write(&yBuf, d.Y, d.N, 1); err != nil {
		return err
	}
	for path, b := range map[string][]byte{prefix + ".csv": csvBuf.Bytes(), prefix + ".npy": zBuf.Bytes(), prefix + "-labels.npy": yBuf.Bytes()} {
		if err := writeFileAtomic(path, b); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes b to path atomically.
func writeFileAtomic(path string, b []byte) error { return atomicfile.Write(path, b) }
