package fakeslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
)

// Upload is a file shared through Slack's external upload flow:
// files.getUploadURLExternal, a POST of the bytes to the upload URL, then
// files.completeUploadExternal.
type Upload struct {
	FileID   string
	Filename string
	Title    string
	Content  []byte
	// Channel is completeUploadExternal's channel_id, else its channels.
	Channel        string
	InitialComment string
	ThreadTS       string
}

// upload is an Upload in progress.
type upload struct {
	Upload
	received  bool // the bytes arrived
	completed bool // files.completeUploadExternal shared it
}

// Uploads returns the completed uploads, in the order their upload URLs
// were handed out. Uploads that were never completed do not appear: look
// for them in Calls("files.getUploadURLExternal").
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Upload
	for _, u := range s.uploads {
		if u.completed {
			c := u.Upload
			c.Content = bytes.Clone(u.Content)
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) uploadLocked(id string) *upload {
	for _, u := range s.uploads {
		if u.FileID == id {
			return u
		}
	}
	return nil
}

func (s *Server) filesGetUploadURLExternal(c *Call) obj {
	length, err := strconv.Atoi(c.Param("length"))
	if c.Param("filename") == "" || err != nil || length <= 0 {
		return fail("invalid_arguments")
	}
	id := fmt.Sprintf("F0FILE%04d", s.nextIDLocked())
	s.uploads = append(s.uploads, &upload{Upload: Upload{FileID: id, Filename: c.Param("filename")}})
	return obj{"ok": true, "upload_url": s.srv.URL + "/upload/" + id, "file_id": id}
}

// serveUpload receives a file's bytes, raw or as the "file" part of a
// multipart form (what slack-go sends), and answers like Slack's upload
// host: 200 "OK - <length>".
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	content, err := readUpload(w, r)
	if err != nil {
		s.t.Logf("fakeslack: POST %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	u := s.uploadLocked(r.PathValue("id"))
	if u != nil {
		u.Content, u.received = content, true
		s.notifyLocked()
	}
	s.mu.Unlock()
	if u == nil {
		s.t.Logf("fakeslack: POST %s: no such upload URL", r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "OK - %d", len(content))
}

func readUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "multipart/form-data" {
		return io.ReadAll(body)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("multipart upload without a file part: %w", err)
		}
		if part.FormName() == "file" {
			return io.ReadAll(part)
		}
	}
}

// filesCompleteUploadExternal shares uploaded files; a file whose bytes
// never arrived gets file_not_found.
func (s *Server) filesCompleteUploadExternal(c *Call) obj {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(c.Param("files")), &files); err != nil || len(files) == 0 {
		return fail("invalid_arguments")
	}
	ups := make([]*upload, len(files))
	for i, f := range files {
		ups[i] = s.uploadLocked(f.ID)
		if ups[i] == nil || !ups[i].received || ups[i].completed {
			return fail("file_not_found")
		}
	}
	channel := c.Param("channel_id")
	if channel == "" {
		channel = c.Param("channels")
	}
	summaries := make([]obj, len(files))
	for i, u := range ups {
		u.Title = files[i].Title
		if u.Title == "" {
			u.Title = u.Filename
		}
		u.Channel, u.InitialComment, u.ThreadTS = channel, c.Param("initial_comment"), c.Param("thread_ts")
		u.completed = true
		summaries[i] = obj{"id": u.FileID, "title": u.Title}
	}
	return obj{"ok": true, "files": summaries}
}
