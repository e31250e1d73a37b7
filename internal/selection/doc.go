// Package selection ranks mirrors for one file and one client: the decision
// every redirect makes. It is pure: no I/O, no clock, and randomness comes
// from the caller, so a decision can be replayed and tested.
//
// A Table is built from the registry (and mirror state) whenever those
// change. It precomputes, per mirror slot, every fact a decision needs as
// bitsets over slots: usable (enabled, fresh, up), can serve https, IPv6,
// large files, and which mirrors belong to each country, continent and ASN.
// A decision then ANDs a file's holder row (from the inventory) with a few of
// those sets, word by word, and only walks individual mirrors to draw the
// weighted winner or to order by distance. With 300 mirrors that takes well
// under a microsecond and allocates nothing.
//
// Preference, in order: the client is inside one of the mirror's netblocks;
// the same ASN; the same country (or one of the mirror's extra countries);
// the same continent; then everyone else by great-circle distance. Within the
// winning group the pick is weighted random on score × bandwidth, so equally
// good mirrors share the load in proportion instead of the lowest id taking
// it all.
package selection
