package store

import "strings"

// Matches applies the ID, sandbox ID (both may be prefixes) and label parts
// of a ListContainers or ListContainerStats filter.
func (c *Container) Matches(id, sandboxID string, labels map[string]string) bool {
	return strings.HasPrefix(c.ID, id) && strings.HasPrefix(c.SandboxID, sandboxID) &&
		MatchLabels(c.Config.GetLabels(), labels)
}

// MatchLabels tells whether labels hold every key/value of the selector.
func MatchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
