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

// Observed delivers every notice to next and then, once next accepted it,
// hands it to seen (the metrics counting it, the history recording it).
func Observed(next Notifier, seen func(Notice)) Notifier {
	return observed{next: next, seen: seen}
}

type observed struct {
	next Notifier
	seen func(Notice)
}

func (o observed) Notify(n Notice) error {
	if err := o.next.Notify(n); err != nil {
		return err
	}
	o.seen(n)
	return nil
}
