module example.com/ztracedep

go 1.19
