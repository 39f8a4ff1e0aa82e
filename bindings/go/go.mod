module saraphis/bindings/go

go 1.21
