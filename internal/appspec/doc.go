// Package appspec translates CRI container and pod settings into what rkt
// and stage1 take (`rkt app sandbox` arguments, `rkt app add` options, an
// identity, capabilities, seccomp filters, sysctls), refusing what rkt
// cannot enforce, with errors naming the field. It starts nothing and
// changes nothing on the host.
package appspec
