// Package registrytest holds registry fixtures shared by the tests of every layer:
// fully populated sites and mirrors (so a round trip that drops a field shows),
// and tables of hostile values with the field each must be rejected on.
package registrytest
