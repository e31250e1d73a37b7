package pages

import "github.com/mirrorkit/mirrorkit/internal/netstatus"

// stateView is how a state looks: a CSS class, a symbol and a word, so no
// reader depends on colour alone, and a fill for the SVG, which carries its
// colours as presentation attributes because map.svg is also served on its
// own, where no stylesheet applies. The fills match --state-* in style.css.
type stateView struct {
	Class  string // one of a fixed set: safe in class names
	Symbol string
	Label  string
	Fill   string
}

// orderedStates lists the known states in the order readers care about:
// totals and the legend follow it.
func orderedStates() []netstatus.State {
	return []netstatus.State{netstatus.Up, netstatus.Stale, netstatus.Down, netstatus.Disabled, netstatus.Unknown}
}

// viewState returns the look of s; a state this package does not know yet
// is shown as its own word with the neutral look of "unknown".
func viewState(s netstatus.State) stateView {
	switch s {
	case netstatus.Up:
		return stateView{"up", "●", "up", "#1a7f37"}
	case netstatus.Stale:
		return stateView{"stale", "◐", "stale", "#b26a00"}
	case netstatus.Down:
		return stateView{"down", "✕", "down", "#c62828"}
	case netstatus.Disabled:
		return stateView{"disabled", "⊘", "disabled", "#6b7280"}
	}
	v := stateView{"unknown", "?", "unknown", "#5a5fc8"}
	if s != "" && s != netstatus.Unknown {
		v.Label = string(s)
	}
	return v
}

// probeState and scanState reuse the state looks for a probe or scan result.
func probeState(up, failing bool) stateView {
	switch {
	case up && failing:
		v := viewState(netstatus.Down)
		v.Label = "failing"
		return v
	case up:
		return viewState(netstatus.Up)
	}
	return viewState(netstatus.Down)
}

func scanState(ok bool) stateView {
	if ok {
		v := viewState(netstatus.Up)
		v.Label = "ok"
		return v
	}
	v := viewState(netstatus.Down)
	v.Label = "failed"
	return v
}
