package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// TicketTTL is how long a helpdesk ticket is kept.
const TicketTTL = 90 * 24 * time.Hour

// auditMaxLen bounds a user's audit stream (approximately).
const auditMaxLen = 1000

func (s *Store) ticketKey(tenant, user string, number int64) string {
	return s.prefix + UserTag(tenant, user) + ":ticket:" + strconv.FormatInt(number, 10)
}

func (s *Store) openTicketKey(tenant, user string) string {
	return s.prefix + UserTag(tenant, user) + ":ticket:open"
}

// NextTicketNumber returns a new ticket number, unique across replicas.
func (s *Store) NextTicketNumber(ctx context.Context) (int64, error) {
	n, err := s.rdb.Incr(ctx, s.prefix+"ticket:seq").Result()
	if err != nil {
		return 0, fmt.Errorf("next ticket number: %w", err)
	}
	return n, nil
}

// ticketCASScript writes a ticket only if its stored revision is the one
// read (like the dialog), keeps it TicketTTL, and maintains the pointer to
// the user's open ticket: set while open, cleared when resolved.
var ticketCASScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'rev')
if (cur or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'doc', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[5] == '1' then
  redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[4])
elseif redis.call('GET', KEYS[2]) == ARGV[6] then
  redis.call('DEL', KEYS[2])
end
return 1
`)

// SaveTicket writes ticket number of a user if its revision is still
// prevRev (0 for a new ticket); open says whether it is the user's open
// ticket. saved is false when another writer won: reload and decide again.
func (s *Store) SaveTicket(ctx context.Context, tenant, user string, number int64, doc []byte, prevRev int64, open bool) (rev int64, saved bool, err error) {
	openFlag := "0"
	if open {
		openFlag = "1"
	}
	ok, err := ticketCASScript.Run(ctx, s.rdb,
		[]string{s.ticketKey(tenant, user, number), s.openTicketKey(tenant, user)},
		prevRev, prevRev+1, doc, TicketTTL.Milliseconds(), openFlag, number).Int()
	if err != nil {
		return 0, false, fmt.Errorf("save ticket: %w", err)
	}
	return prevRev + 1, ok == 1, nil
}

// LoadTicket returns a ticket and its revision; nil when it does not exist.
func (s *Store) LoadTicket(ctx context.Context, tenant, user string, number int64) ([]byte, int64, error) {
	key := s.ticketKey(tenant, user, number)
	doc, rev, err := s.loadVersioned(ctx, key, TicketTTL)
	if legacy := s.legacyKey(key, tenant, user); err == nil && doc == nil && legacy != "" {
		doc, rev, err = s.migrateVersioned(ctx, key, legacy, TicketTTL)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load ticket: %w", err)
	}
	return doc, rev, nil
}

// OpenTicket returns the number of the user's open ticket, or 0.
func (s *Store) OpenTicket(ctx context.Context, tenant, user string) (int64, error) {
	key := s.openTicketKey(tenant, user)
	v, err := s.rdb.Get(ctx, key).Result()
	if legacy := s.legacyKey(key, tenant, user); err == redis.Nil && legacy != "" {
		var b []byte
		if b, err = s.migrateString(ctx, key, legacy, TicketTTL); err == nil && b == nil {
			err = redis.Nil
		}
		v = string(b)
	}
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open ticket: %w", err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// SaveHelpdeskChannel stores where tickets go (set with ヘルプデスク設定).
func (s *Store) SaveHelpdeskChannel(ctx context.Context, doc []byte) error {
	if err := s.rdb.Set(ctx, s.prefix+"helpdesk:channel", doc, 0).Err(); err != nil {
		return fmt.Errorf("save helpdesk channel: %w", err)
	}
	return nil
}

// LoadHelpdeskChannel returns where tickets go, or nil when not set.
func (s *Store) LoadHelpdeskChannel(ctx context.Context) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.prefix+"helpdesk:channel").Bytes()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load helpdesk channel: %w", err)
	}
	return b, nil
}

// CacheMember remembers for ttl whether user belongs to the helpdesk team.
func (s *Store) CacheMember(ctx context.Context, team, user string, member bool, ttl time.Duration) error {
	v := "0"
	if member {
		v = "1"
	}
	if err := s.rdb.Set(ctx, s.prefix+"member:"+team+":"+user, v, ttl).Err(); err != nil {
		return fmt.Errorf("cache member: %w", err)
	}
	return nil
}

// CachedMember returns (member, known).
func (s *Store) CachedMember(ctx context.Context, team, user string) (bool, bool, error) {
	v, err := s.rdb.Get(ctx, s.prefix+"member:"+team+":"+user).Result()
	if err == redis.Nil {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("cached member: %w", err)
	}
	return v == "1", true, nil
}

// Audit appends an entry to the user's audit stream (who did what, when,
// for whom). fields must never hold a secret.
func (s *Store) Audit(ctx context.Context, tenant, user string, fields map[string]string) error {
	vals := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		vals = append(vals, k, v)
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.prefix + UserTag(tenant, user) + ":audit",
		MaxLen: auditMaxLen, Approx: true, Values: vals,
	}).Err()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// countScript counts in a window that starts with the first count: INCR,
// and the key's TTL set when it is new, in one step.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// CountSubmission counts one helpdesk-form submission of the user and
// returns how many there have been in the current window of length per
// (this one included); the window starts with its first submission.
func (s *Store) CountSubmission(ctx context.Context, tenant, user string, per time.Duration) (int64, error) {
	n, err := countScript.Run(ctx, s.rdb, []string{s.prefix + UserTag(tenant, user) + ":hd:submits"}, per.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("count submission: %w", err)
	}
	return n, nil
}
