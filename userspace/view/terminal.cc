#include "userspace/view/terminal.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace ztrace::view {
namespace {

struct termios saved_mode;
volatile sig_atomic_t resized = 0;

constexpr char kEnterScreen[] = "\x1b[?1049h\x1b[?25l";  // alternate screen, cursor hidden
constexpr char kLeaveScreen[] = "\x1b[?25h\x1b[?1049l";

void write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void restore() {
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_mode);
  write_all(kLeaveScreen, sizeof(kLeaveScreen) - 1);
}

void on_stop_signal(int signal) {
  restore();
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

void on_resize(int) { resized = 1; }

int read_byte(int timeout_ms) {
  struct pollfd in {
    STDIN_FILENO, POLLIN, 0
  };
  if (::poll(&in, 1, timeout_ms) <= 0) return -1;
  unsigned char byte;
  return ::read(STDIN_FILENO, &byte, 1) == 1 ? byte : -2;
}

}  // namespace

bool is_interactive_terminal() { return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO); }

Terminal::Terminal() {
  if (::tcgetattr(STDIN_FILENO, &saved_mode) != 0) return;
  struct termios raw = saved_mode;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
  raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return;
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(signal, on_stop_signal);
  struct sigaction resize {};
  resize.sa_handler = on_resize;  // no SA_RESTART: a blocked read wakes up to redraw
  ::sigaction(SIGWINCH, &resize, nullptr);
  write_all(kEnterScreen, sizeof(kEnterScreen) - 1);
  ok_ = true;
}

Terminal::~Terminal() {
  if (!ok_) return;
  restore();
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) ::signal(signal, SIG_DFL);
}

int Terminal::rows() const {
  struct winsize size {};
  return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 ? size.ws_row : 24;
}

int Terminal::columns() const {
  struct winsize size {};
  return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
}

KeyPress Terminal::read_key() {
  for (;;) {
    if (resized) {
      resized = 0;
      return {Key::kResize};
    }
    const int byte = read_byte(-1);
    if (byte == -1) continue;  // a signal
    if (byte == -2) return {Key::kClosed};
    switch (byte) {
      case '\r':
      case '\n':
        return {Key::kEnter};
      case ' ':
        return {Key::kSpace};
      case 127:
      case 8:
        return {Key::kBackspace};
      case 3:  // ctrl-c in raw mode
        return {Key::kChar, 'q'};
      case 0x1b:
        break;
      default:
        return {Key::kChar, static_cast<char>(byte)};
    }
    // An escape sequence follows within a moment, or it was the Escape key.
    const int next = read_byte(50);
    if (next != '[' && next != 'O') return {Key::kEscape};
    int code = read_byte(50);
    int number = 0;
    while (code >= '0' && code <= '9') {
      number = number * 10 + (code - '0');
      code = read_byte(50);
    }
    switch (code) {
      case 'A':
        return {Key::kUp};
      case 'B':
        return {Key::kDown};
      case 'C':
        return {Key::kRight};
      case 'D':
        return {Key::kLeft};
      case 'H':
        return {Key::kHome};
      case 'F':
        return {Key::kEnd};
      case '~':
        if (number == 5) return {Key::kPageUp};
        if (number == 6) return {Key::kPageDown};
        if (number == 1 || number == 7) return {Key::kHome};
        if (number == 4 || number == 8) return {Key::kEnd};
        break;
      default:
        break;
    }
  }
}

void Terminal::draw(const std::string& text) {
  const std::string frame = "\x1b[H" + text + "\x1b[J";
  write_all(frame.data(), frame.size());
}

}  // namespace ztrace::view
