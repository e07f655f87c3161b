package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

func Example() {
	dir, err := os.MkdirTemp("", "silo")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	u := &store.User{Name: "alice", Role: store.RoleAdmin} // ID and CreatedAt are assigned
	if err := s.CreateUser(ctx, u); err != nil {
		log.Fatal(err)
	}
	got, err := s.GetUserByName(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Name, got.Role, got.ID == u.ID)
	// Output: alice admin true
}
