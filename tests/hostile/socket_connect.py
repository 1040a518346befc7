# attempts: open a TCP connection to a listener on 127.0.0.1 (exfiltration channel)
# must hold: import of socket refused; the test's listening socket receives no connection
# expect: forbidden
import socket

from recipe_api import uniform

s = socket.create_connection(("127.0.0.1", @PORT@))
s.sendall(b"exfiltrated")


def build():
    return uniform("ties")
