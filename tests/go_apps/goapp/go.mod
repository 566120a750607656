module ztrace.test/goapp

go 1.19

require example.com/ztracedep v1.4.2
