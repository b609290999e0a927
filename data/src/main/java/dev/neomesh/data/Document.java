package dev.neomesh.data;

import java.nio.file.Path;

/** One document of a corpus: its text and where it came from ({@code line} is 0 for a whole file). */
public record Document(Path file, long line, String text) {}
