package hangar

import (
	"errors"
	"fmt"
)

// ErrorKind says whether retrying a failed task may help.
type ErrorKind int

const (
	// NonRecoverableError: the job failed and retrying will not help.
	NonRecoverableError ErrorKind = iota
	// RecoverableError: a retry may succeed (quota, a transient outage...).
	RecoverableError
)

// AgentError is how an agent says a job failed: a message for humans, a
// short code for machines, and whether a retry may help. From Create, Get and
// Do the host turns it into a failed Resource (FAILED, or RETRYABLE_FAILED
// when recoverable); from Delete into a gRPC error.
//
// Any other error an agent returns counts as non-recoverable with the error's
// text as the message.
type AgentError struct {
	Message string
	// Code is short and machine-readable, e.g. "QuotaExceeded"; may be empty.
	Code string
	Kind ErrorKind
}

// NonRecoverable is a failure that retrying will not fix.
func NonRecoverable(message string) *AgentError {
	return &AgentError{Message: message, Kind: NonRecoverableError}
}

// Recoverable is a failure that a retry may fix.
func Recoverable(message string) *AgentError {
	return &AgentError{Message: message, Kind: RecoverableError}
}

// NonRecoverablef is NonRecoverable with a format string.
func NonRecoverablef(format string, args ...any) *AgentError {
	return NonRecoverable(fmt.Sprintf(format, args...))
}

// Recoverablef is Recoverable with a format string.
func Recoverablef(format string, args ...any) *AgentError {
	return Recoverable(fmt.Sprintf(format, args...))
}

// WithCode sets the machine-readable code and returns the error.
func (e *AgentError) WithCode(code string) *AgentError {
	e.Code = code
	return e
}

// IsRecoverable reports whether a retry may help.
func (e *AgentError) IsRecoverable() bool { return e.Kind == RecoverableError }

func (e *AgentError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// AsAgentError turns any error into the AgentError the host receives: an
// *AgentError anywhere in the chain is used as is, anything else becomes a
// non-recoverable error carrying its text. nil stays nil.
func AsAgentError(err error) *AgentError {
	if err == nil {
		return nil
	}
	var ae *AgentError
	if errors.As(err, &ae) && ae != nil {
		return ae
	}
	return NonRecoverable(err.Error())
}
