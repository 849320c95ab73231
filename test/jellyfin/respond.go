package jellyfin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Jellyfin answers an error in one of four shapes, depending on where in
// ASP.NET Core the error arises. The helpers below keep the four apart so
// each handler answers with the shape Jellyfin uses for that case.

// writeJSON writes v as Jellyfin writes an action result.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeException(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeEmpty answers with a status and no body, as ASP.NET Core does for a
// failed authentication challenge (401), a refused authorization (403), a
// route that does not exist (404) or NoContent (204).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// writeException answers as Jellyfin's ExceptionMiddleware does for an
// exception thrown by a controller or a manager: the status chosen by the
// exception's type and a fixed plain-text message (outside Development,
// Jellyfin never sends the exception's own message). The status codes are
// ArgumentException 400, AuthenticationException 401, SecurityException 403,
// ResourceNotFoundException 404, anything else 500.
func writeException(w http.ResponseWriter, status int) {
	const message = "Error processing request."
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(message)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, message)
}

// writeProblem answers with ASP.NET Core's ProblemDetails, which is what
// Jellyfin's OpenAPI document declares for a controller's own 4xx answers
// (NotFound("User not found"), Unauthorized("Quick connect is disabled"),
// BadRequest()). detail carries the controller's message when it has one.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, problemDetails{
		Type:    problemType(status),
		Title:   http.StatusText(status),
		Status:  status,
		Detail:  detail,
		TraceID: newTraceID(),
	})
}

// writeValidationProblem answers as ASP.NET Core's model validation does when
// a required parameter is missing or a value does not bind: 400 with the
// errors keyed by parameter name.
func writeValidationProblem(w http.ResponseWriter, field, message string) {
	writeJSON(w, http.StatusBadRequest, problemDetails{
		Type:    problemType(http.StatusBadRequest),
		Title:   "One or more validation errors occurred.",
		Status:  http.StatusBadRequest,
		Errors:  map[string][]string{field: {message}},
		TraceID: newTraceID(),
	})
}

func problemType(status int) string {
	section := map[int]string{
		http.StatusBadRequest:   "15.5.1",
		http.StatusUnauthorized: "15.5.2",
		http.StatusForbidden:    "15.5.4",
		http.StatusNotFound:     "15.5.5",
	}[status]
	if section == "" {
		section = "15.6.1"
	}
	return "https://tools.ietf.org/html/rfc9110#section-" + section
}

// newTraceID returns a W3C trace context id like the traceId ASP.NET Core
// adds to every ProblemDetails.
func newTraceID() string {
	return "00-" + randomHex(16) + "-" + randomHex(8) + "-00"
}

// errBodyMissing and errBodyMediaType are the two ways a [FromBody] argument
// fails before its content is read.
var (
	errBodyMissing   = errors.New("a non-empty request body is required")
	errBodyMediaType = errors.New("unsupported media type")
)

// maxBodyBytes bounds what the stand-in reads from a request body; Jellyfin's
// JSON bodies for these endpoints are a few hundred bytes.
const maxBodyBytes = 1 << 20

// readJSONObject reads a [FromBody] JSON object the way ASP.NET Core's
// System.Text.Json input formatter does for Jellyfin: the Content-Type must
// be application/json, text/json or application/*+json (else 415), the body
// must not be empty, and property names match ignoring case, a later
// property replacing an earlier one.
func readJSONObject(r *http.Request) (jsonObject, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !(mediaType == "application/json" || mediaType == "text/json" ||
		(strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json"))) {
		return nil, errBodyMediaType
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errBodyMissing
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, errBodyMissing
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, errors.New("the JSON value is not an object")
	}
	var obj jsonObject
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		obj = append(obj, jsonField{name: keyTok.(string), value: value})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return obj, nil
}

type jsonField struct {
	name  string
	value json.RawMessage
}

// jsonObject keeps a JSON object's properties in order so that lookups can
// follow System.Text.Json's case-insensitive, last-one-wins rule.
type jsonObject []jsonField

// stringField returns a string property by case-insensitive name. present
// is false when the property is absent or null; err is set when the value is
// not a JSON string, which ASP.NET Core reports as a validation error.
func (o jsonObject) stringField(name string) (value string, present bool, err error) {
	var raw json.RawMessage
	for _, f := range o {
		if equalFoldOrdinal(f.name, name) {
			raw = f.value
		}
	}
	if raw == nil || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", false, err
	}
	return value, true, nil
}

// writeBodyError answers a body that could not be read the way ASP.NET Core
// does.
func writeBodyError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBodyMediaType):
		writeProblem(w, http.StatusUnsupportedMediaType, "")
	case errors.Is(err, errBodyMissing):
		writeValidationProblem(w, "", "A non-empty request body is required.")
	default:
		writeValidationProblem(w, "$", "The JSON value could not be converted.")
	}
}
