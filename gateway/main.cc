// Placeholder until the daemon lands (this session).
int main() { return 0; }
