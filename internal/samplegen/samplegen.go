package samplegen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/reference"
)

// Where Generate writes, inside its directory.
const (
	ReferenceDir     = "reference"        // the reference-data directory
	InstructionsFile = "instructions.csv" // the instruction file
)

// maxSubscriptions keeps the generated numbers and CA ids within their fixed widths,
// so that they stay unique (smartcard and STB CA ids share one unique index).
const maxSubscriptions = 10_000_000

// Config says what to generate. The zero value of a field picks its default.
type Config struct {
	// Rows is the number of instruction rows.
	Rows int
	// Seed makes the output: the same Config gives the same bytes.
	Seed uint64
	// Subscriptions is the number of subscriptions, each with one smartcard and one
	// STB installed. Default: one for every four rows, at least 100.
	Subscriptions int
}

func (c Config) subscriptions() int {
	if c.Subscriptions > 0 {
		return c.Subscriptions
	}
	return max(100, c.Rows/4)
}

// stock is how many smartcards (and as many STBs) are in stock, installed nowhere:
// an operator's reference data has them, instructions here do not name them.
func (c Config) stock() int { return max(1, c.subscriptions()/100) }

func (c Config) check() error {
	switch {
	case c.Rows < 0:
		return fmt.Errorf("rows %d: must not be negative", c.Rows)
	case c.Subscriptions < 0 || c.subscriptions()+c.stock() > maxSubscriptions:
		return fmt.Errorf("subscriptions %d: must be between 1 and %d", c.Subscriptions, maxSubscriptions-maxSubscriptions/100)
	}
	return nil
}

// Stats describes what was generated.
type Stats struct {
	// Instruction file.
	Rows               int
	Types              map[provisioning.Type]int // the request type each row becomes
	Express            int                       // rows with priority EXPRESS (any case)
	Scheduled          int                       // rows with a scheduled_date
	References         int                       // rows with a reference
	ByCAID             int                       // rows naming the smartcard by CA id
	ProcessImmediately int                       // rows with process_immediately true

	// Reference data.
	Subscriptions, Smartcards, STBs, Products, Services int
}

// Generate writes the reference data into dir/reference and the instruction file to
// dir/instructions.csv, creating dir if needed.
func Generate(dir string, cfg Config) (Stats, error) {
	if err := cfg.check(); err != nil {
		return Stats{}, err
	}
	st, err := WriteReference(filepath.Join(dir, ReferenceDir), cfg)
	if err != nil {
		return st, err
	}
	var ins Stats
	err = writeFile(filepath.Join(dir, InstructionsFile), func(w io.Writer) error {
		var err error
		ins, err = WriteInstructions(w, cfg)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("generate instructions: %w", err)
	}
	ins.Subscriptions, ins.Smartcards, ins.STBs, ins.Products, ins.Services = st.Subscriptions, st.Smartcards, st.STBs, st.Products, st.Services
	return ins, nil
}

// WriteReference writes the four reference files into dir, creating it if needed.
// Only the reference counts of the Stats are set.
func WriteReference(dir string, cfg Config) (Stats, error) {
	var st Stats
	if err := cfg.check(); err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("generate reference: %w", err)
	}
	subs, stock := cfg.subscriptions(), cfg.stock()
	files := []struct {
		name  string
		write func(io.Writer) (int, error)
		n     *int
	}{
		{reference.SubscriptionsFile, func(w io.Writer) (int, error) { return writeSubscriptions(w, subs) }, &st.Subscriptions},
		{reference.SmartcardsFile, func(w io.Writer) (int, error) { return writeItems(w, smartcardIDs, subs, stock) }, &st.Smartcards},
		{reference.STBsFile, func(w io.Writer) (int, error) { return writeItems(w, stbIDs, subs, stock) }, &st.STBs},
		{reference.ProductsFile, writeProducts, &st.Products},
	}
	for _, f := range files {
		err := writeFile(filepath.Join(dir, f.name), func(w io.Writer) error {
			var err error
			*f.n, err = f.write(w)
			return err
		})
		if err != nil {
			return st, fmt.Errorf("generate %s: %w", f.name, err)
		}
	}
	st.Services = len(services)
	return st, nil
}

// writeFile creates path and streams fn's output into it through a buffer.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	err = fn(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Subscriptions are numbered from 1; subscription i has smartcard i and STB i
// installed. Items numbered above the subscriptions are in stock.

func appendSubscription(b []byte, i int) []byte { return appendPadded(append(b, "SUB"...), i, 8) }

// idScheme names the items of one kind from their number.
type idScheme struct {
	serial func(b []byte, i int) []byte
	caID   func(b []byte, i int) []byte
	alt    func(b []byte, i int) []byte // nil for the items that have none
}

var smartcardIDs = idScheme{
	serial: func(b []byte, i int) []byte { return appendPadded(append(b, "SC"...), i, 10) },
	caID:   func(b []byte, i int) []byte { return strconv.AppendInt(b, 1_000_000_000+int64(i), 10) },
	alt: func(b []byte, i int) []byte {
		if i%5 != 0 { // the CRM has an alternative code for some cards only
			return b
		}
		return appendPadded(append(b, "ALT-SC-"...), i, 10)
	},
}

var stbIDs = idScheme{
	serial: func(b []byte, i int) []byte { return appendPadded(append(b, "STB"...), i, 9) },
	caID:   func(b []byte, i int) []byte { return strconv.AppendInt(b, 7_700_000_000+int64(i), 10) },
	alt:    func(b []byte, _ int) []byte { return b },
}

func writeSubscriptions(w io.Writer, n int) (int, error) {
	b := []byte("number,state\n")
	for i := 1; i <= n; i++ {
		b = appendSubscription(b, i)
		// Resolve does not look at the state; a real file has a few that are not active.
		switch {
		case i%97 == 0:
			b = append(b, ",SUSPENDED\n"...)
		default:
			b = append(b, ",ACTIVE\n"...)
		}
		if len(b) > 32<<10 {
			if _, err := w.Write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return n, err
}

func writeItems(w io.Writer, ids idScheme, subs, stock int) (int, error) {
	b := []byte("serial_number,alternative_code,ca_id,subscription_number\n")
	for i := 1; i <= subs+stock; i++ {
		b = ids.serial(b, i)
		b = append(b, ',')
		b = ids.alt(b, i)
		b = append(b, ',')
		b = ids.caID(b, i)
		b = append(b, ',')
		if i <= subs {
			b = appendSubscription(b, i)
		}
		b = append(b, '\n')
		if len(b) > 32<<10 {
			if _, err := w.Write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return subs + stock, err
}

// services is the catalogue's provisionable products, most popular first (see
// pickServices). Their CA ids are P-1001 on, in this order.
var services = []string{
	"SPORTS", "MOVIES", "KIDS", "NEWS", "SERIES", "DOCS", "MUSIC", "FOOTBALL",
	"CINEMA-HD", "SPORTS-HD", "F1", "NATURE", "HISTORY", "SCIENCE", "COMEDY", "DRAMA",
	"CARTOON", "BABY", "TEEN", "TRAVEL", "FOOD", "LIFESTYLE", "CLASSIC", "ANIME",
	"GOLF", "TENNIS", "FASHION", "RADIO", "GAMING", "4K-PACK", "PPV-EVENTS", "ADULT",
	"INTL-ES", "INTL-FR", "INTL-DE", "INTL-IT", "INTL-PT", "INTL-AR", "INTL-HI", "INTL-ZH",
}

// otherProducts are in the catalogue but cannot be provisioned: no instruction names them.
var otherProducts = [][2]string{
	{"DECODER-HD", "HARDWARE"}, {"DECODER-4K", "HARDWARE"}, {"REMOTE", "HARDWARE"},
	{"INSTALL-FEE", "FEE"}, {"LATE-FEE", "FEE"},
}

func writeProducts(w io.Writer) (int, error) {
	b := []byte("code,alternative_code,classification,ca_id\n")
	for i, code := range services {
		b = append(b, code...)
		b = append(b, ',')
		if i%3 == 0 {
			b = appendPadded(append(b, "SVC-"...), i+1, 3)
		}
		b = append(b, ",SERVICE,P-"...)
		b = strconv.AppendInt(b, int64(1001+i), 10)
		b = append(b, '\n')
	}
	for _, p := range otherProducts {
		b = append(b, p[0]...)
		b = append(b, ",,"...)
		b = append(b, p[1]...)
		b = append(b, ",\n"...)
	}
	_, err := w.Write(b)
	return len(services) + len(otherProducts), err
}

// header is the instruction file's header: every column, in the documented order.
const header = "action,subscription_number,smartcard_serial_number,smartcard_ca_id,stb_serial_number," +
	"services,pin,priority,scheduled_date,process_immediately,reference\r\n"

// actionMix is the share of each action, per thousand rows. A pairing without an STB
// is an unpairing.
var actionMix = []struct {
	action   provisioning.Action
	perMille int
	unpair   bool
}{
	{provisioning.ActionAddServices, 450, false},
	{provisioning.ActionCancelServices, 300, false},
	{provisioning.ActionPair, 50, false},
	{provisioning.ActionPair, 20, true},
	{provisioning.ActionResetPIN, 80, false},
	{provisioning.ActionSetPIN, 50, false},
	{provisioning.ActionResetSmartcard, 50, false},
}

// scheduleBase is the first scheduled date given: fixed, so that output is
// reproducible. The importer does not mind dates in the past.
var scheduleBase = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// WriteInstructions writes the instruction file of cfg to w: a UTF-8 BOM and CRLF
// line ends, as a spreadsheet saves "CSV UTF-8". Only the instruction counts of the
// Stats are set.
func WriteInstructions(w io.Writer, cfg Config) (Stats, error) {
	st := Stats{Types: map[provisioning.Type]int{}}
	if err := cfg.check(); err != nil {
		return st, err
	}
	total := 0
	for _, m := range actionMix {
		total += m.perMille
	}
	if total != 1000 {
		return st, errors.New("action mix does not add up to 1000")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x70726f76)) // any fixed second word will do
	subs := cfg.subscriptions()

	b := make([]byte, 0, 64<<10)
	b = append(b, "\xEF\xBB\xBF"+header...)
	for k := range cfg.Rows {
		b = appendInstruction(b, rng, &st, cfg.Seed, subs, k)
		if len(b) > 60<<10 {
			if _, err := w.Write(b); err != nil {
				return st, err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return st, err
}

// appendInstruction appends row k (from 0) of the file, for one of subs
// subscriptions, and counts it in st. Every random choice is drawn from rng in
// the order of the columns, so that a seed gives the same file.
func appendInstruction(b []byte, rng *rand.Rand, st *Stats, seed uint64, subs, k int) []byte {
	sub := 1 + rng.IntN(subs)
	pick := rng.IntN(1000)
	m := actionMix[0]
	for _, m = range actionMix {
		if pick < m.perMille {
			break
		}
		pick -= m.perMille
	}
	typ := rowType(m.action, m.unpair)
	st.Types[typ]++

	b = append(b, m.action...)
	b = append(b, ',')
	b = appendParties(b, rng, st, m.action, typ, sub)
	b = append(b, ',')
	if m.action == provisioning.ActionAddServices || m.action == provisioning.ActionCancelServices {
		b = appendServices(b, rng)
	}
	b = append(b, ',')
	if m.action == provisioning.ActionSetPIN {
		b = appendPadded(b, 1+rng.IntN(9999), 4) // never 0000, the default PIN
	}
	b = append(b, ',')
	b = appendWhen(b, rng, st)
	b = append(b, ',')
	if rng.IntN(100) == 0 {
		// Unique in the file by its row, and across files by the seed.
		st.References++
		b = append(b, "CRM-"...)
		b = strconv.AppendUint(b, seed, 10)
		b = append(b, '-')
		b = appendPadded(b, k+1, 8)
	}
	b = append(b, '\r', '\n')
	st.Rows++
	return b
}

// appendParties appends the subscription, smartcard (by serial number or CA id) and
// STB columns of subscription sub.
func appendParties(b []byte, rng *rand.Rand, st *Stats, action provisioning.Action, typ provisioning.Type, sub int) []byte {
	// The subscription is required but for pairing, where some operators leave it out.
	if action != provisioning.ActionPair || rng.IntN(10) < 7 {
		b = appendSubscription(b, sub)
	}
	b = append(b, ',')
	if rng.IntN(10) == 0 {
		st.ByCAID++
		b = append(b, ',')
		b = smartcardIDs.caID(b, sub)
	} else {
		b = smartcardIDs.serial(b, sub)
		b = append(b, ',')
	}
	b = append(b, ',')
	if typ == provisioning.Pair {
		b = stbIDs.serial(b, sub) // the subscription's own box
	}
	return b
}

// appendWhen appends the priority, scheduled_date and process_immediately columns,
// each most often empty.
func appendWhen(b []byte, rng *rand.Rand, st *Stats) []byte {
	switch p := rng.IntN(200); {
	case p < 3:
		st.Express++
		b = append(b, "EXPRESS"...)
	case p < 4:
		st.Express++
		b = append(b, "express"...)
	case p < 8:
		b = append(b, "REGULAR"...)
	}
	b = append(b, ',')
	if rng.IntN(10) == 0 {
		st.Scheduled++
		at := scheduleBase.Add(time.Duration(rng.IntN(30*24*4)) * 15 * time.Minute)
		if rng.IntN(2) == 0 {
			b = at.AppendFormat(b, time.RFC3339)
		} else {
			b = at.AppendFormat(b, "2006-01-02 15:04:05")
		}
	}
	b = append(b, ',')
	switch rng.IntN(100) {
	case 0:
		st.ProcessImmediately++
		b = append(b, "true"...)
	case 1, 2:
		b = append(b, "false"...)
	}
	return b
}

func rowType(a provisioning.Action, unpair bool) provisioning.Type {
	switch a {
	case provisioning.ActionAddServices:
		return provisioning.AddProducts
	case provisioning.ActionCancelServices:
		return provisioning.CancelProducts
	case provisioning.ActionPair:
		if unpair {
			return provisioning.Unpair
		}
		return provisioning.Pair
	case provisioning.ActionResetPIN:
		return provisioning.ResetPIN
	case provisioning.ActionSetPIN:
		return provisioning.SetPIN
	}
	return provisioning.ResetSmartcard
}

// appendServices appends one to six distinct service codes separated by ';', most
// often one, the popular ones more often than the others.
func appendServices(b []byte, rng *rand.Rand) []byte {
	n := 1
	switch p := rng.IntN(100); {
	case p >= 95:
		n = 4 + rng.IntN(3)
	case p >= 85:
		n = 3
	case p >= 60:
		n = 2
	}
	var picked [6]int
	for i := 0; i < n; {
		u := rng.Float64()
		s := int(u * u * float64(len(services))) // squared: skewed towards the front
		if slices.Contains(picked[:i], s) {
			continue // a service is listed once: Parse rejects duplicates
		}
		picked[i] = s
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, services[s]...)
		i++
	}
	return b
}

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(n), 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}
