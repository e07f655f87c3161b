package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Storage holds a log's records and Merkle tree hashes. Hashes are addressed
// by storage index (golang.org/x/mod/sumdb/tlog.StoredHashIndex), records by
// their index in the log. A Log is the only writer of its Storage.
//
// Append must be atomic with respect to crashes: after a crash, Size reports
// either the size before the call or the size after it, never a size whose
// records or hashes are not fully durable.
type Storage interface {
	// Size returns the number of durable records.
	Size() int64
	// ReadHashes returns the hashes at the given storage indexes, each of
	// which must be below sumdb/tlog.StoredHashCount(Size()).
	ReadHashes(indexes []int64) ([]sumtlog.Hash, error)
	// ReadRecords returns the records with indexes [start, start+n).
	ReadRecords(start, n int64) ([][]byte, error)
	// Append durably stores records at indexes Size(), Size()+1, ... and
	// hashes at storage indexes StoredHashCount(Size()), ..., then advances
	// Size by len(records).
	Append(records [][]byte, hashes []sumtlog.Hash) error
	// ReadCheckpoint returns the last checkpoint written by WriteCheckpoint,
	// or nil and no error if there is none.
	ReadCheckpoint() ([]byte, error)
	// WriteCheckpoint durably replaces the stored checkpoint.
	WriteCheckpoint(signed []byte) error
	// Close releases the storage.
	Close() error
}

// File names inside a FileStorage directory.
const (
	recordsFile     = "records"     // record bytes, concatenated
	indexFile       = "index"       // per record: uint64 big-endian end offset in records
	hashesFile      = "hashes"      // 32-byte hashes by storage index
	checkpointsFile = "checkpoints" // signed checkpoints, framed, newest last
)

// FileStorage is a Storage in a directory of append-only files. See the
// package documentation for the layout and its crash-safety argument.
type FileStorage struct {
	dir string

	mu          sync.RWMutex
	records     *os.File
	index       *os.File
	hashes      *os.File
	checkpoints *os.File
	cpEnd       int64  // end of the last complete frame in checkpoints
	checkpoint  []byte // the last stored checkpoint
	size        int64
	recEnd      int64 // end offset of the last record
	dropped     int64 // bytes of torn tail removed by OpenFileStorage
	broken      bool  // an Append failed part way; reopen to recover
}

// OpenFileStorage opens (creating if needed) a FileStorage in dir. A torn
// write at the tail of any file, left by a crash during Append, is detected
// and truncated away; the size is the largest for which the index, the
// records and the hashes are all complete, and the last record's bytes hash
// to its stored leaf hash.
func OpenFileStorage(dir string) (*FileStorage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlog: open storage: %w", err)
	}
	s := &FileStorage{dir: dir}
	var err error
	open := func(name string) *os.File {
		if err != nil {
			return nil
		}
		var f *os.File
		f, err = os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		return f
	}
	s.records, s.index, s.hashes = open(recordsFile), open(indexFile), open(hashesFile)
	s.checkpoints = open(checkpointsFile)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("tlog: open storage: %w", err)
	}
	if err := s.recoverCheckpoints(); err != nil {
		s.Close()
		return nil, fmt.Errorf("tlog: open storage %s: %w", dir, err)
	}
	if err := s.recover(); err != nil {
		s.Close()
		return nil, fmt.Errorf("tlog: open storage %s: %w", dir, err)
	}
	if err := syncDir(dir); err != nil {
		s.Close()
		return nil, fmt.Errorf("tlog: open storage: %w", err)
	}
	return s, nil
}

// recover finds the durable size and truncates any torn tail.
func (s *FileStorage) recover() error {
	ilen, err := fileSize(s.index)
	if err != nil {
		return err
	}
	rlen, err := fileSize(s.records)
	if err != nil {
		return err
	}
	hlen, err := fileSize(s.hashes)
	if err != nil {
		return err
	}
	n := ilen / 8
	for n > 0 {
		end, err := s.readOffset(n - 1)
		if err != nil {
			return err
		}
		start := int64(0)
		if n > 1 {
			if start, err = s.readOffset(n - 2); err != nil {
				return err
			}
		}
		ok := start <= end && end <= rlen && sumtlog.StoredHashCount(n)*sumtlog.HashSize <= hlen
		if ok {
			// The last record must hash to its stored leaf hash.
			rec := make([]byte, end-start)
			if _, err := s.records.ReadAt(rec, start); err != nil {
				return fmt.Errorf("read record %d: %w", n-1, err)
			}
			hs, err := s.readHashes([]int64{sumtlog.StoredHashIndex(0, n-1)})
			if err != nil {
				return err
			}
			ok = hs[0] == sumtlog.RecordHash(rec)
		}
		if ok {
			s.size, s.recEnd = n, end
			break
		}
		n--
	}
	wantI, wantH := s.size*8, sumtlog.StoredHashCount(s.size)*sumtlog.HashSize
	s.dropped += (ilen - wantI) + (rlen - s.recEnd) + (hlen - wantH)
	for _, t := range []struct {
		f       *os.File
		have, n int64
	}{{s.index, ilen, wantI}, {s.records, rlen, s.recEnd}, {s.hashes, hlen, wantH}} {
		if t.have == t.n {
			continue
		}
		if err := t.f.Truncate(t.n); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
	}
	return nil
}

// Dropped reports how many bytes of torn tail OpenFileStorage removed.
func (s *FileStorage) Dropped() int64 { return s.dropped }

func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *FileStorage) readOffset(i int64) (int64, error) {
	var b [8]byte
	if _, err := s.index.ReadAt(b[:], i*8); err != nil {
		return 0, fmt.Errorf("read index %d: %w", i, err)
	}
	off := binary.BigEndian.Uint64(b[:])
	if off > 1<<62 {
		return 0, fmt.Errorf("read index %d: offset %d out of range", i, off)
	}
	return int64(off), nil
}

// Size implements Storage.
func (s *FileStorage) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// ReadHashes implements Storage.
func (s *FileStorage) ReadHashes(indexes []int64) ([]sumtlog.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	limit := sumtlog.StoredHashCount(s.size)
	for _, x := range indexes {
		if x < 0 || x >= limit {
			return nil, fmt.Errorf("tlog: read hash %d: %w", x, ErrNotFound)
		}
	}
	return s.readHashes(indexes)
}

func (s *FileStorage) readHashes(indexes []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(indexes))
	for i := 0; i < len(indexes); {
		// Read runs of consecutive indexes with one call.
		j := i + 1
		for j < len(indexes) && indexes[j] == indexes[j-1]+1 {
			j++
		}
		buf := make([]byte, (j-i)*sumtlog.HashSize)
		if _, err := s.hashes.ReadAt(buf, indexes[i]*sumtlog.HashSize); err != nil {
			return nil, fmt.Errorf("tlog: read hash %d: %w", indexes[i], err)
		}
		for k := i; k < j; k++ {
			copy(out[k][:], buf[(k-i)*sumtlog.HashSize:])
		}
		i = j
	}
	return out, nil
}

// ReadRecords implements Storage.
func (s *FileStorage) ReadRecords(start, n int64) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if start < 0 || n < 0 || n > s.size || start > s.size-n {
		return nil, fmt.Errorf("tlog: read records [%d, %d+%d): %w", start, start, n, ErrNotFound)
	}
	if n == 0 {
		return nil, nil
	}
	// offs holds the end offsets of records start-1 .. start+n-1, with 0
	// standing in for the end of record -1.
	offs := make([]byte, (n+1)*8)
	if start == 0 {
		if _, err := s.index.ReadAt(offs[8:], 0); err != nil {
			return nil, fmt.Errorf("tlog: read index: %w", err)
		}
	} else if _, err := s.index.ReadAt(offs, (start-1)*8); err != nil {
		return nil, fmt.Errorf("tlog: read index: %w", err)
	}
	lo := int64(binary.BigEndian.Uint64(offs))
	hi := int64(binary.BigEndian.Uint64(offs[n*8:]))
	if lo > hi || hi > s.recEnd {
		return nil, fmt.Errorf("tlog: read records: corrupt index")
	}
	data := make([]byte, hi-lo)
	if _, err := s.records.ReadAt(data, lo); err != nil {
		return nil, fmt.Errorf("tlog: read records: %w", err)
	}
	out := make([][]byte, n)
	prev := lo
	for i := int64(0); i < n; i++ {
		end := int64(binary.BigEndian.Uint64(offs[(i+1)*8:]))
		if end < prev || end > hi {
			return nil, fmt.Errorf("tlog: read records: corrupt index")
		}
		out[i] = data[prev-lo : end-lo : end-lo]
		prev = end
	}
	return out, nil
}

// Append implements Storage. Records are written and synced first, then
// hashes, then the index entries; the index is the commit point.
func (s *FileStorage) Append(records [][]byte, hashes []sumtlog.Hash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return fmt.Errorf("tlog: append: %w", ErrBroken)
	}
	if want := sumtlog.StoredHashCount(s.size+int64(len(records))) - sumtlog.StoredHashCount(s.size); int64(len(hashes)) != want {
		return fmt.Errorf("tlog: append: got %d hashes, want %d", len(hashes), want)
	}
	var recBuf []byte
	idxBuf := make([]byte, 0, 8*len(records))
	end := s.recEnd
	for _, r := range records {
		recBuf = append(recBuf, r...)
		end += int64(len(r))
		idxBuf = binary.BigEndian.AppendUint64(idxBuf, uint64(end))
	}
	hashBuf := make([]byte, 0, len(hashes)*sumtlog.HashSize)
	for _, h := range hashes {
		hashBuf = append(hashBuf, h[:]...)
	}
	hashOff := sumtlog.StoredHashCount(s.size) * sumtlog.HashSize
	// Records and hashes are written and synced concurrently; the index,
	// the commit point, only after both are durable.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []struct {
		f   *os.File
		b   []byte
		off int64
	}{{s.records, recBuf, s.recEnd}, {s.hashes, hashBuf, hashOff}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeSync(w.f, w.b, w.off)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		err = writeSync(s.index, idxBuf, s.size*8)
	}
	if err != nil {
		s.broken = true
		return fmt.Errorf("tlog: append: %w", err)
	}
	s.size += int64(len(records))
	s.recEnd = end
	return nil
}

// ReadCheckpoint implements Storage.
func (s *FileStorage) ReadCheckpoint() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkpoint, nil
}

// checkpointFrame is the framing of one entry in the checkpoints file:
// uint32 big-endian length, the signed checkpoint, and the first 8 bytes of
// its SHA-256 (so a torn tail is recognised).
func checkpointFrame(signed []byte) []byte {
	sum := sha256.Sum256(signed)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(signed)))
	b = append(b, signed...)
	return append(b, sum[:8]...)
}

// maxCheckpointsFile is the size past which the checkpoints file is
// compacted to its last entry.
const maxCheckpointsFile = 1 << 20

// WriteCheckpoint implements Storage: the checkpoint is appended to the
// checkpoints file and synced.
func (s *FileStorage) WriteCheckpoint(signed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(signed) > maxCheckpointLen*4 {
		return fmt.Errorf("tlog: write checkpoint: %d bytes: too long", len(signed))
	}
	frame := checkpointFrame(signed)
	if s.cpEnd+int64(len(frame)) > maxCheckpointsFile {
		if err := writeFileAtomic(filepath.Join(s.dir, checkpointsFile), frame); err != nil {
			return fmt.Errorf("tlog: write checkpoint: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(s.dir, checkpointsFile), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("tlog: write checkpoint: %w", err)
		}
		s.checkpoints.Close()
		s.checkpoints, s.cpEnd, s.checkpoint = f, int64(len(frame)), bytes.Clone(signed)
		return nil
	}
	if _, err := s.checkpoints.WriteAt(frame, s.cpEnd); err != nil {
		return fmt.Errorf("tlog: write checkpoint: %w", err)
	}
	if err := s.checkpoints.Sync(); err != nil {
		return fmt.Errorf("tlog: write checkpoint: %w", err)
	}
	s.cpEnd += int64(len(frame))
	s.checkpoint = bytes.Clone(signed)
	return nil
}

// recoverCheckpoints finds the last complete checkpoint and truncates any
// torn tail of the checkpoints file.
func (s *FileStorage) recoverCheckpoints() error {
	data, err := io.ReadAll(io.NewSectionReader(s.checkpoints, 0, 1<<40))
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	off := 0
	for len(data)-off >= 4 {
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n > len(data)-off-4-8 {
			break
		}
		cp := data[off+4 : off+4+n]
		sum := sha256.Sum256(cp)
		if !bytes.Equal(sum[:8], data[off+4+n:off+4+n+8]) {
			break
		}
		s.checkpoint = bytes.Clone(cp)
		off += 4 + n + 8
	}
	s.cpEnd = int64(off)
	if off != len(data) {
		s.dropped += int64(len(data) - off)
		if err := s.checkpoints.Truncate(int64(off)); err != nil {
			return fmt.Errorf("truncate torn checkpoint: %w", err)
		}
		if err := s.checkpoints.Sync(); err != nil {
			return fmt.Errorf("truncate torn checkpoint: %w", err)
		}
	}
	return nil
}

// Close implements Storage.
func (s *FileStorage) Close() error {
	var errs []error
	for _, f := range []*os.File{s.records, s.index, s.hashes, s.checkpoints} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

func writeSync(f *os.File, b []byte, off int64) error {
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Sync()
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
