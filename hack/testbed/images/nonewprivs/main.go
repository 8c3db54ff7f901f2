// Command nonewprivs stands in for the e2e nonewprivs image: installed
// setuid root, it prints the effective uid it runs with, which is 0 only when
// the container allowed privilege escalation.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
