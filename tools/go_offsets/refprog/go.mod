module ztrace.test/refprog

go 1.19
