package doctor

// The "service user" check: whether the bot and the service run as one uid.

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// Users is who runs the bot and who runs the service, for CheckUsers.
type Users struct {
	// Bot is the bot's uid (os.Getuid()).
	Bot int
	// Service are the service's uids, distinct and sorted: those of its
	// running processes (real, effective, saved and file-system uids) when
	// Running, else the owner of Dir. Empty when unknown (see Err).
	Service []int
	// Running tells that Service are the uids of running processes.
	Running bool
	// Dir is the service dir.
	Dir string
	// Err says why Service is empty: no uid could be read.
	Err error
	// Names maps a uid to its user name, where known.
	Names map[int]string
}

// ServiceUsers finds who runs the service: the uids of the processes pids
// (the service's, from /proc/<pid>/status on Linux) when any of them can be
// read, else the owner of dir. botUID is the bot's uid (os.Getuid()). The
// uids are named from the user database where it knows them.
func ServiceUsers(botUID int, pids []int, dir string) Users {
	u := Users{Bot: botUID, Dir: dir}
	for _, pid := range pids {
		uids, err := processUIDs(pid)
		if err != nil {
			continue // gone since it was seen
		}
		u.Service = append(u.Service, uids...)
	}
	if len(u.Service) > 0 {
		u.Running = true
	} else if uid, err := dirOwner(dir); err != nil {
		u.Err = err
	} else {
		u.Service = []int{uid}
	}
	slices.Sort(u.Service)
	u.Service = slices.Compact(u.Service)
	u.Names = map[int]string{}
	for _, uid := range append([]int{botUID}, u.Service...) {
		if acct, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			u.Names[uid] = acct.Username
		}
	}
	return u
}

const hintSharedUser = "run the service as a user of its own, and keep the bot's Slack secrets in files " +
	"only the bot's user can read (slack.bot_token_file, app_token_file, signing_secret_file; mode 0600); " +
	"the bot starts the service as the bot's user: see \"Security model\" in the README for how (User=, setpriv)"

// CheckUsers is the "service user" check: a warning when the service runs
// as the bot's uid (or, when it is not running, its dir belongs to the bot's
// uid). The service's code, and anything that compromises it (Chromium, a
// dependency), then acts as the bot's user: it can read what the bot's user
// can read, the bot's secret files included.
func CheckUsers(u Users) Check {
	c := Check{Name: "service user"}
	bot := u.name(u.Bot)
	if errors.Is(u.Err, errNoUIDSystem) {
		return c.ok("not applicable: " + errNoUIDSystem.Error())
	}
	if len(u.Service) == 0 {
		why := "no uid found"
		if u.Err != nil {
			why = checkErrLine(u.Err)
		}
		return c.warn("cannot tell which user the service runs as: "+why, "check that "+u.Dir+" exists and is readable by the bot's user")
	}
	var who string
	if u.Running {
		who = "the service runs as " + u.names(u.Service)
	} else {
		who = "the service is not running; its dir " + u.Dir + " belongs to " + u.names(u.Service)
	}
	if slices.Contains(u.Service, u.Bot) {
		return c.warn(who+", the bot's user: the service can read the bot's files and secrets", hintSharedUser)
	}
	return c.ok(who + "; the bot runs as " + bot)
}

// name is "uid 1000 (alice)", or "uid 1000" when the name is unknown.
func (u Users) name(uid int) string {
	if n, ok := u.Names[uid]; ok {
		return fmt.Sprintf("uid %d (%s)", uid, n)
	}
	return fmt.Sprintf("uid %d", uid)
}

func (u Users) names(uids []int) string {
	parts := make([]string, len(uids))
	for i, uid := range uids {
		parts[i] = u.name(uid)
	}
	return strings.Join(parts, ", ")
}

var (
	// errNoUIDs is processUIDs' error for a status without a Uid line.
	errNoUIDs = errors.New("no Uid line")
	// errNoUIDSystem is dirOwner's error where there are no uids (Windows).
	errNoUIDSystem = errors.New("this system has no uids")
)
