package cgroups

// Pod is what the limiters need to know of a running rkt pod.
type Pod struct {
	ID string
	// Unit is the pod's unit in the host's systemd.
	Unit string
}
