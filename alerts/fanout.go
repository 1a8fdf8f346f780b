package alerts

import "errors"

// Notifiers delivers every notice to each of its notifiers (Slack, email):
// one refusing does not keep the others from it, and its error is joined
// to the rest.
type Notifiers []Notifier

// Notify gives n to each notifier in turn.
func (ns Notifiers) Notify(n Notice) error {
	var errs []error
	for _, x := range ns {
		if err := x.Notify(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
