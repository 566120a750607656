#pragma once

// The terminal for the interactive view: raw input and the alternate screen while it lives,
// restored on destruction (and on SIGINT/SIGTERM/SIGHUP, which then end the process). Plain
// termios and ANSI escapes, no curses.

#include <string>

namespace ztrace::view {

enum class Key {
  kUp,
  kDown,
  kLeft,
  kRight,
  kPageUp,
  kPageDown,
  kHome,
  kEnd,
  kEnter,
  kSpace,
  kEscape,
  kBackspace,
  kChar,
  kResize,
  kClosed
};

struct KeyPress {
  Key key;
  char ch = 0;  // for kChar
};

class Terminal {
 public:
  // Takes over stdin/stdout; check ok() before use.
  Terminal();
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool ok() const { return ok_; }
  int rows() const;
  int columns() const;
  // Blocks until a key (or a window size change: kResize).
  KeyPress read_key();
  // Replaces the screen with `text` (lines ending in "\r\n" are written by the caller).
  void draw(const std::string& text);

 private:
  bool ok_ = false;
};

// True when both stdin and stdout are terminals.
bool is_interactive_terminal();

}  // namespace ztrace::view
