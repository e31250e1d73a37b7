package syncer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// MinPushTokenLen is the shortest push token NewPushHandler accepts.
const MinPushTokenLen = 16

// NewPushHandler serves POST /sync/{job} for pushed mirrors (openSUSE's
// "push mirrors", Debian's ssh-triggered ftpsync): an upstream tells the
// mirror to sync now instead of waiting for the next slot.
//
// The request must carry "Authorization: Bearer TOKEN". Answers, all with a
// JSON body {"job", "state"} or {"error"}:
//
//	202 started | queued   the run began, or one was running and will go again
//	401                    missing or wrong token
//	404                    no such job (only told to an authenticated caller)
//	405                    not POST
//
// "?force=1" skips the unchanged-trace check for that run.
func NewPushHandler(t Triggerer, token string, log *slog.Logger) (http.Handler, error) {
	if len(token) < MinPushTokenLen {
		return nil, errors.New("push handler: the token must be at least 16 characters")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &pushHandler{t: t, token: sha256.Sum256([]byte(token)), log: log}, nil
}

type pushHandler struct {
	t     Triggerer
	token [32]byte
	log   *slog.Logger
}

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	job, ok := strings.CutPrefix(r.URL.Path, "/sync/")
	if !ok || job == "" || strings.Contains(job, "/") {
		writeJSONResponse(w, http.StatusNotFound, map[string]string{"error": "not found: use POST /sync/JOB"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONResponse(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed: use POST"})
		return
	}
	if !h.authorized(r) {
		h.log.Warn("push rejected: bad or missing token", "job", job, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="mirrorkit sync"`)
		writeJSONResponse(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid bearer token"})
		return
	}
	force := r.URL.Query().Get("force")
	queued, err := h.t.Trigger(job, RunOptions{Trigger: "push", Force: force == "1" || force == "true"})
	switch {
	case errors.Is(err, ErrUnknownJob):
		writeJSONResponse(w, http.StatusNotFound, map[string]string{"error": "unknown job " + job})
		return
	case errors.Is(err, ErrNotServing):
		writeJSONResponse(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
		return
	case err != nil:
		h.log.Error("push: cannot start the run", "job", job, "error", err)
		writeJSONResponse(w, http.StatusInternalServerError, map[string]string{"error": "cannot start the run; see the agent's log"})
		return
	}
	state := "started"
	if queued {
		state = "queued"
	}
	h.log.Info("push accepted", "job", job, "state", state, "remote", r.RemoteAddr)
	writeJSONResponse(w, http.StatusAccepted, map[string]string{"job": job, "state": state})
}

// authorized compares digests in constant time, so neither the token's
// content nor its length leaks through timing.
func (h *pushHandler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

func writeJSONResponse(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
