// lib/pq client of the end-to-end tests (Debian's golang-github-lib-pq-dev, GOPATH mode):
// pg-go PORT
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/lib/pq"
)

func main() {
	db, err := sql.Open("postgres", "host=127.0.0.1 port="+os.Args[1]+
		" user=postgres dbname=postgres sslmode=disable")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	must := func(_ sql.Result, err error) {
		if err != nil {
			panic(err)
		}
	}
	must(db.Exec("create table g (id int, name text)"))
	must(db.Exec("insert into g values ($1, $2)", 1, "secret"))
	var name string
	if err := db.QueryRow("select name from g where id = $1", 1).Scan(&name); err != nil {
		panic(err)
	}
	fmt.Println(name)
}
