package data

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/diynn/diynn/internal/atomicfile"
)

// find returns the path of a dataset file, downloading it when no directory
// has it.
func (o Options) find(src *IDXSource, f idxFile) (string, error) {
	dirs := o.dirs(src.Name)
	for _, dir := range dirs {
		for _, name := range []string{f.name, strings.TrimSuffix(f.name, ".gz")} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	howTo := fmt.Sprintf("put %s (or its uncompressed form) in DIR/%s/ and pass -data-dir DIR or set DIYNN_DATA=DIR", f.name, src.Name)
	if o.NoDownload {
		return "", fmt.Errorf("%s: %s not found in %s; %s", src.Name, f.name, strings.Join(dirs, ", "), howTo)
	}
	cache := o.cacheDir()
	if cache == "" {
		return "", fmt.Errorf("%s: %s not found in %s and there is no user cache directory to download into; %s",
			src.Name, f.name, strings.Join(dirs, ", "), howTo)
	}
	dst := filepath.Join(cache, src.Name, f.name)
	var errs []error
	for _, base := range src.BaseURLs {
		err := o.download(base+f.name, dst, f.md5)
		if err == nil {
			return dst, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("%s: %s not found in %s, and the download failed (%w); %s",
		src.Name, f.name, strings.Join(dirs, ", "), errors.Join(errs...), howTo)
}

// download fetches url into dst through a temporary file in the same
// directory, renamed into place only when its MD5 matches.
func (o Options) download(url, dst, wantMD5 string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	fetch := o.Fetch
	if fetch == nil {
		fetch = httpFetch
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "downloading %s\n", url)
	}
	return atomicfile.WriteFunc(dst, func(w io.Writer) error {
		sum := md5.New()
		if err := fetch(url, io.MultiWriter(w, sum), o.Progress); err != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != wantMD5 {
			return fmt.Errorf("%s: MD5 %s, want %s (corrupt or changed download)", url, got, wantMD5)
		}
		return nil
	})
}

// httpFetch downloads url to w, printing progress to p about once a second.
func httpFetch(url string, w io.Writer, p io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	var r io.Reader = resp.Body
	if p != nil {
		r = &progressReader{r: resp.Body, total: resp.ContentLength, w: p, last: time.Now()}
	}
	_, err = io.Copy(w, r)
	if pr, ok := r.(*progressReader); ok && err == nil {
		pr.report()
		fmt.Fprintln(p)
	}
	return err
}

// progressReader prints bytes read so far, as a bar when the total is known.
type progressReader struct {
	r     io.Reader
	n     int64
	total int64
	w     io.Writer
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if time.Since(p.last) > time.Second {
		p.report()
		p.last = time.Now()
	}
	return n, err
}

func (p *progressReader) report() {
	if p.total > 0 {
		const width = 30
		done := int(width * p.n / p.total)
		fmt.Fprintf(p.w, "\r  [%s%s] %5.1f%% of %.1f MB", strings.Repeat("=", done), strings.Repeat(" ", width-done),
			100*float64(p.n)/float64(p.total), float64(p.total)/1e6)
		return
	}
	fmt.Fprintf(p.w, "\r  %.1f MB", float64(p.n)/1e6)
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
