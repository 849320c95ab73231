package gateway

import (
	"errors"
	"net"
	"sync"
)

// memListener is a net.Listener whose connections are in-memory pipes: the front
// dials the gin engine through it, so requests the front hands on never touch a
// socket another process could reach.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// errListenerClosed is what Accept and Dial return once the listener is closed.
var errListenerClosed = errors.New("in-memory listener closed")

// Accept waits for the next Dial.
func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

// Dial connects to the listener: it returns one end of a pipe, the accepter gets
// the other.
func (l *memListener) Dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- memConn{server}:
		return memConn{client}, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, errListenerClosed
	}
}

// Close stops Accept and Dial.
func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr names the listener.
func (l *memListener) Addr() net.Addr { return memAddr{} }

// memConn is a pipe end with an address of its own: net.Pipe's addresses have the
// network "pipe", which net/http reports as the request's RemoteAddr.
type memConn struct{ net.Conn }

func (memConn) LocalAddr() net.Addr  { return memAddr{} }
func (memConn) RemoteAddr() net.Addr { return memAddr{} }

// memAddr is the address of the in-memory listener and its connections.
type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "jfguard-engine" }
