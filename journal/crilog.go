// Package journal turns the output of containers, as the pods' journald
// stores it, into the CRI log files the kubelet reads.
//
// Inside a pod, stage1's iottymux sends every line an app writes to the
// pod's journald as one entry (rkt patch 0007) with these fields:
//
//	SYSLOG_IDENTIFIER=<rkt app name>
//	RKT_STREAM=stdout|stderr
//	RKT_PARTIAL=true   when the (last) line goes on in the next entry
//	MESSAGE=<the lines read at once, newline-separated, no final newline>
//
// and one entry with RKT_EOF=<stream> when a stream ends. The pod's journal
// is persistent: it lives in the pod's directory until the pod is removed,
// so it is read to its end even after the pod stopped.
package journal

import (
	"time"
)

// Stream names as the CRI log format spells them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Entry fields written by stage1 (see the package comment).
const (
	fieldIdentifier = "SYSLOG_IDENTIFIER"
	fieldStream     = "RKT_STREAM"
	fieldPartial    = "RKT_PARTIAL"
	fieldEOF        = "RKT_EOF"
	fieldMessage    = "MESSAGE"
)

// appendCRILine appends one line of the CRI log format:
//
//	<RFC3339Nano time> <stdout|stderr> <P|F> <message>\n
//
// P marks a piece of a longer line (the kubelet joins pieces up to the next
// F); the message must not hold a newline.
func appendCRILine(dst []byte, t time.Time, stream string, partial bool, msg []byte) []byte {
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	if partial {
		dst = append(dst, " P "...)
	} else {
		dst = append(dst, " F "...)
	}
	dst = append(dst, msg...)
	return append(dst, '\n')
}
