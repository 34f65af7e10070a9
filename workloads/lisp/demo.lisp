; demo.lisp: the program memkit-lisp runs when given none (embedded at build time).
;
; A little suite of classic programs, deterministic (its own pseudo-random generator), each
; printing a few lines that workloads/lisp/demo.expected records. It allocates millions of
; cells of every kind: list cells, strings, closures, environment frames, table entries and
; vector buffers, most of them short-lived, some kept alive for a while (about 2.5 million
; cells and 4 million mallocs, peak 25 MB, 1 s at -O2 on glibc malloc). After a change, make
; demo.expected anew (memkit-lisp > demo.expected) and check the new numbers independently.

(define (say . items) (for-each display items) (newline))

; A linear congruential generator (the one of the C standard's example rand).
(define seed 20240601)
(define (random! n)
  (set! seed (modulo (+ (* seed 1103515245) 12345) 2147483648))
  (modulo (quotient seed 256) n))

(define (iota n)
  (let loop ((i (- n 1)) (acc '()))
    (if (< i 0) acc (loop (- i 1) (cons i acc)))))

(define (random-list n bound)
  (let loop ((i 0) (acc '()))
    (if (= i n) acc (loop (+ i 1) (cons (random! bound) acc)))))

(define (sum l) (fold-left + 0 l))

(define (take l n)
  (if (or (= n 0) (null? l)) '() (cons (car l) (take (cdr l) (- n 1)))))

(define (last l) (if (null? (cdr l)) (car l) (last (cdr l))))

; ---------------------------------------------------------------------------------------------
; 1. N queens: count the solutions, remember the first one.
; ---------------------------------------------------------------------------------------------
(define (queens size)
  (define first-solution #f)
  (define (safe? row placed)
    (let loop ((l placed) (distance 1))
      (or (null? l)
          (and (not (= (car l) row))
               (not (= (abs (- (car l) row)) distance))
               (loop (cdr l) (+ distance 1))))))
  (define (place k placed)
    (if (= k 0)
        (begin (unless first-solution (set! first-solution (reverse placed))) 1)
        (let loop ((row 1) (count 0))
          (if (> row size)
              count
              (loop (+ row 1)
                    (if (safe? row placed)
                        (+ count (place (- k 1) (cons row placed)))
                        count))))))
  (let ((count (place size '())))
    (list count first-solution)))

(say "== queens")
(let ((r (queens 8)))
  (say "8 queens: " (car r) " solutions, the first: " (cadr r)))
(say "5 queens: " (car (queens 5)) ", 6 queens: " (car (queens 6)))

; ---------------------------------------------------------------------------------------------
; 2. Symbolic differentiation and simplification.
; ---------------------------------------------------------------------------------------------
(define (operator? e op) (and (pair? e) (eq? (car e) op)))

(define (deriv e x)
  (cond ((number? e) 0)
        ((symbol? e) (if (eq? e x) 1 0))
        ((operator? e '+) (list '+ (deriv (cadr e) x) (deriv (caddr e) x)))
        ((operator? e '-) (list '- (deriv (cadr e) x) (deriv (caddr e) x)))
        ((operator? e '*)
         (list '+ (list '* (cadr e) (deriv (caddr e) x)) (list '* (deriv (cadr e) x) (caddr e))))
        ((operator? e 'expt)
         (list '* (list '* (caddr e) (list 'expt (cadr e) (- (caddr e) 1))) (deriv (cadr e) x)))
        (else (error "deriv: unknown expression" e))))

(define (simplify e)
  (if (not (pair? e))
      e
      (let ((op (car e)) (a (simplify (cadr e))) (b (simplify (caddr e))))
        (cond ((and (number? a) (number? b) (not (eq? op 'expt)))
               (cond ((eq? op '+) (+ a b)) ((eq? op '-) (- a b)) (else (* a b))))
              ((eq? op '+) (cond ((equal? a 0) b) ((equal? b 0) a) ((equal? a b) (list '* 2 a))
                                 (else (list '+ a b))))
              ((eq? op '-) (cond ((equal? b 0) a) ((equal? a b) 0) (else (list '- a b))))
              ((eq? op '*) (cond ((or (equal? a 0) (equal? b 0)) 0) ((equal? a 1) b) ((equal? b 1) a)
                                 ((and (number? b) (not (number? a))) (list '* b a))
                                 (else (list '* a b))))
              ((eq? op 'expt) (cond ((equal? b 0) 1) ((equal? b 1) a) (else (list 'expt a b))))
              (else (list op a b))))))

(define (size e) (if (pair? e) (+ 1 (sum (map size (cdr e)))) 1))

(define expressions
  '((+ (* 3 (expt x 2)) (* 5 x))
    (* (+ x 1) (- x 1))
    (* (* x y) (+ x (* 2 y)))
    (expt (+ (* 2 x) 3) 5)
    (+ (* (expt x 3) (expt y 2)) (* 7 (* x (* x y))))))

(say "== derivatives")
(for-each (lambda (e) (say "d/dx " e " = " (simplify (deriv e 'x)))) expressions)
(let loop ((i 0) (nodes 0))
  (if (< i 150)
      (loop (+ i 1)
            (+ nodes (sum (map (lambda (e) (size (simplify (deriv (deriv e 'x) 'y))))
                               expressions))))
      (say "150 rounds of d2/dxdy: " nodes " nodes")))

; ---------------------------------------------------------------------------------------------
; 3. Sorting a pseudo-random list: mergesort and quicksort.
; ---------------------------------------------------------------------------------------------
(define (merge-lists a b less?)  ; recursive: as deep as the lists are long
  (cond ((null? a) b)
        ((null? b) a)
        ((less? (car b) (car a)) (cons (car b) (merge-lists a (cdr b) less?)))
        (else (cons (car a) (merge-lists (cdr a) b less?)))))

(define (split l)  ; -> (odd-positions . even-positions)
  (let loop ((l l) (a '()) (b '()))
    (if (null? l) (cons a b) (loop (cdr l) b (cons (car l) a)))))

(define (mergesort l less?)
  (if (or (null? l) (null? (cdr l)))
      l
      (let ((halves (split l)))
        (merge-lists (mergesort (car halves) less?) (mergesort (cdr halves) less?) less?))))

(define (quicksort l)  ; sorts l onto acc
  (let sort ((l l) (acc '()))
    (if (null? l)
        acc
        (let ((pivot (car l)))
          (let partition ((rest (cdr l)) (low '()) (high '()))
            (cond ((null? rest) (sort low (cons pivot (sort high acc))))
                  ((< (car rest) pivot) (partition (cdr rest) (cons (car rest) low) high))
                  (else (partition (cdr rest) low (cons (car rest) high)))))))))

(define (sorted? l less?)
  (or (null? l) (null? (cdr l))
      (and (not (less? (cadr l) (car l))) (sorted? (cdr l) less?))))

(say "== sorting")
(define numbers (random-list 6000 1000000))
(define by-merge (mergesort numbers <))
(define by-quick (quicksort numbers))
(say "6000 numbers, sum " (sum numbers) ", min " (car by-merge) ", max " (last by-merge))
(say "mergesort sorted: " (sorted? by-merge <) ", quicksort sorted: " (sorted? by-quick <)
     ", same: " (equal? by-merge by-quick))
(say "first five: " (take by-merge 5))
(define strings (map (lambda (n) (string-append "n" (number->string n))) (take numbers 1000)))
(define sorted-strings (mergesort strings string<?))
(say "1000 strings sorted: " (sorted? sorted-strings string<?) ", first " (car sorted-strings)
     ", last " (last sorted-strings))

; ---------------------------------------------------------------------------------------------
; 4. The sieve of Eratosthenes, in a vector.
; ---------------------------------------------------------------------------------------------
(define (sieve n)  ; the primes below n, as a list
  (let ((composite (make-vector n #f)))
    (let loop ((i 2) (primes '()))
      (cond ((>= i n) (reverse primes))
            ((vector-ref composite i) (loop (+ i 1) primes))
            (else
             (do-multiples composite (* i i) i n)
             (loop (+ i 1) (cons i primes)))))))

(define (do-multiples v from step n)
  (when (< from n)
    (vector-set! v from #t)
    (do-multiples v (+ from step) step n)))

(say "== sieve")
(define primes (sieve 100000))
(say "primes below 100000: " (length primes) ", sum " (sum primes) ", last " (last primes))
(say "the 1000th: " (list-ref primes 999) ", twin pairs: "
     (let loop ((l primes) (count 0))
       (if (null? (cdr l)) count (loop (cdr l) (if (= (- (cadr l) (car l)) 2) (+ count 1) count)))))

; ---------------------------------------------------------------------------------------------
; 5. Word frequencies in a hash table.
; ---------------------------------------------------------------------------------------------
(define syllables (vector "ka" "lo" "mi" "ne" "su" "ta" "ri" "po"))

(define (make-word)  ; 1 to 3 syllables, then a number skewed towards 0
  (let loop ((k (+ 1 (random! 3))) (word ""))
    (if (= k 0)
        (let ((r (random! 60))) (string-append word (number->string (quotient (* r r) 40))))
        (loop (- k 1) (string-append word (vector-ref syllables (random! 8)))))))

(define (count-words n)
  (let ((table (make-table)))
    (let loop ((i 0))
      (when (< i n)
        (let ((w (make-word)))
          (table-set! table w (+ 1 (table-ref table w 0))))
        (loop (+ i 1))))
    table))

(define (more-frequent? a b)
  (or (> (cdr a) (cdr b)) (and (= (cdr a) (cdr b)) (string<? (car a) (car b)))))

(say "== words")
(define words (count-words 6000))
(define counts (map (lambda (w) (cons w (table-ref words w))) (table-keys words)))
(say "6000 words, " (table-count words) " different, total " (sum (map cdr counts)))
(say "most frequent: " (take (mergesort counts more-frequent?) 5))
(let ((by-length (make-table)))
  (for-each (lambda (w)
              (let ((n (string-length (car w))))
                (table-set! by-length n (+ (cdr w) (table-ref by-length n 0)))))
            counts)
  (say "by length: " (map (lambda (n) (cons n (table-ref by-length n))) (table-keys by-length))))
(say "symbols: " (length (map (lambda (w) (string->symbol (substring (car w) 0 2))) counts))
     " made, e.g. " (symbol->string (string->symbol (car (car counts)))))

; ---------------------------------------------------------------------------------------------
; 6. Function calls: tak and fib.
; ---------------------------------------------------------------------------------------------
(define (tak x y z)
  (if (not (< y x)) z (tak (tak (- x 1) y z) (tak (- y 1) z x) (tak (- z 1) x y))))
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))

(say "== calls")
(say "tak 18 12 6 = " (tak 18 12 6))
(say "fib 20 = " (fib 20))
(say "apply: " (apply + 1 2 (iota 100)) ", deep recursion: " (length (let build ((n 5000))
                                                                       (if (= n 0) '() (cons n (build (- n 1)))))))

; ---------------------------------------------------------------------------------------------
; 7. Trees: a functional binary search tree, and association lists.
; ---------------------------------------------------------------------------------------------
; A node is (key left . right); insert copies the path to the new leaf.
(define (tree-insert tree key)
  (cond ((null? tree) (cons key (cons '() '())))
        ((< key (car tree)) (cons (car tree) (cons (tree-insert (cadr tree) key) (cddr tree))))
        ((> key (car tree)) (cons (car tree) (cons (cadr tree) (tree-insert (cddr tree) key))))
        (else tree)))

(define (tree-keys tree acc)  ; in order, onto acc
  (if (null? tree) acc (tree-keys (cadr tree) (cons (car tree) (tree-keys (cddr tree) acc)))))

(define (tree-height tree)
  (if (null? tree) 0 (+ 1 (max (tree-height (cadr tree)) (tree-height (cddr tree))))))

(define (dedupe sorted)
  (let loop ((l sorted) (acc '()))
    (cond ((null? l) (reverse acc))
          ((and (pair? acc) (= (car acc) (car l))) (loop (cdr l) acc))
          (else (loop (cdr l) (cons (car l) acc))))))

(say "== trees")
(define tree (fold-left tree-insert '() numbers))
(define in-order (tree-keys tree '()))
(say "bst of 6000 keys: " (length in-order) " distinct, height " (tree-height tree)
     ", in order: " (equal? in-order (dedupe by-merge)) ", sum " (sum in-order))

(define (alist-count keys)
  (let loop ((l keys) (al '()))
    (if (null? l)
        al
        (let ((entry (assoc (car l) al)))
          (if entry
              (begin (set-cdr! entry (+ (cdr entry) 1)) (loop (cdr l) al))
              (loop (cdr l) (cons (cons (car l) 1) al)))))))

(define al (alist-count (map (lambda (n) (string-append "k" (number->string (modulo n 100)))) (take numbers 2000))))
(say "alist: " (length al) " keys, k0 -> " (cdr (assoc "k0" al)) ", k99 -> " (cdr (assoc "k99" al)))
(say "done")
