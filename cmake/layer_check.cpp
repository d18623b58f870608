// Linked with the whole of one layer's library and only the layers it may use (see
// CMakeLists.txt): it builds only while that layer calls nothing above or beside it.
int main() { return 0; }
