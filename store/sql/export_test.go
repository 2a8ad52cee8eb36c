package sqlstore

// AddFixtureMigrations appends test migrations after the real ones (each a
// list of statements with the {blob} and {int} placeholders) and returns
// the function that removes them.
func AddFixtureMigrations(stmts ...[]string) (restore func()) {
	old := migrations
	ms := append([]migration(nil), old...)
	for _, s := range stmts {
		ms = append(ms, migration{version: len(ms) + 1, stmts: s})
	}
	migrations = ms
	return func() { migrations = old }
}

// KeepMigrations keeps only the first n migrations, as an older version of
// the package would, and returns the function that restores them.
func KeepMigrations(n int) (restore func()) {
	old := migrations
	migrations = old[:n]
	return func() { migrations = old }
}

// NumMigrations is the number of migrations, the newest schema version.
func NumMigrations() int { return len(migrations) }
